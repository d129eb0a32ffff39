# Test accuracy and training loss per epoch: mean over seeds with the 95 % t band.
load system("dirname '".ARG0."'")."/common.gp"
f(g) = pd."/curves_".g.".tsv"
set xlabel "epoch"
set key outside right top box opaque reverse Left width 1
set xtics nomirror
set ytics nomirror
if (nepochs <= 20) { set xtics 1 } else { set mxtics }
do for [fmt in formats] {
    eval start(fmt, "test_accuracy")
    set title "Test accuracy per epoch (mean and 95 % band over seeds)\n".setting_short noenhanced
    set ylabel "test accuracy (%)"
    plot for [g in groups] f(g) using 1:4:5 with filledcurves fc rgb col(g) fs transparent solid 0.18 noborder notitle, \
         for [g in groups] f(g) using 1:3 with linespoints lc rgb col(g) pt 7 ps (nepochs > 20 ? 0 : 0.6) title lab(g)
    eval start(fmt, "train_loss")
    set title "Training loss per epoch (mean and 95 % band over seeds)\n".setting_short noenhanced
    set ylabel "training loss (cross-entropy)"
    plot for [g in groups] f(g) using 1:7:8 with filledcurves fc rgb col(g) fs transparent solid 0.18 noborder notitle, \
         for [g in groups] f(g) using 1:6 with linespoints lc rgb col(g) pt 7 ps (nepochs > 20 ? 0 : 0.6) title lab(g)
    unset output
}
