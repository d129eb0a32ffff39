# Accuracy (test; a tuning's: validation, meta.gp's acc) and training loss per epoch: mean over seeds with a band (band_note says which:
# the bootstrap interval of the mean with 5 or more runs, else min-max; clipped to the metric's range).
load system("dirname '".ARG0."'")."/common.gp"
f(g) = pd."/curves_".g.".tsv"
set xlabel "epoch"
set key outside below center horizontal nobox reverse Left width 1
set xtics nomirror
set ytics nomirror
if (nepochs <= 20) { set xtics 1 } else { set mxtics }
do for [fmt in formats] {
    eval start(fmt, acc."_accuracy")
    set title sprintf("%s accuracy per epoch (mean over seeds, shaded band: see the key)\n", acc eq "val" ? "Validation" : "Test").setting_short noenhanced
    set ylabel acc_word." accuracy (%)"
    plot for [g in groups] f(g) using 1:acc_curve_col+1:acc_curve_col+2 with filledcurves fc rgb col(g) fs transparent solid 0.18 noborder notitle, \
         for [g in groups] f(g) using 1:acc_curve_col with linespoints lc rgb col(g) pt 7 ps (nepochs > 20 ? 0 : 0.6) title lab(g), \
         NaN with filledcurves fc rgb "#888888" fs transparent solid 0.25 noborder title band_note
    eval start(fmt, "train_loss")
    set title "Training loss per epoch (mean over seeds, shaded band: see the key)\n".setting_short noenhanced
    set ylabel "training loss (cross-entropy)"
    plot for [g in groups] f(g) using 1:7:8 with filledcurves fc rgb col(g) fs transparent solid 0.18 noborder notitle, \
         for [g in groups] f(g) using 1:6 with linespoints lc rgb col(g) pt 7 ps (nepochs > 20 ? 0 : 0.6) title lab(g), \
         NaN with filledcurves fc rgb "#888888" fs transparent solid 0.25 noborder title band_note
    unset output
}
