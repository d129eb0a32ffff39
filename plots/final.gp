# Final test accuracy (a tuning's: validation, meta.gp's acc) per optimizer: mean over seeds with its band as an error bar (band_note:
# the bootstrap interval of the mean with 5 or more runs, else min-max), every seed (dots); the
# paper's 91.6 % for DAO-E as a dashed line when the setting matches.
load system("dirname '".ARG0."'")."/common.gp"
f = pd."/final.tsv"
set xrange [-0.6:ngroups-0.4]
set xtics rotate by (ngroups > 6 ? -45 : -30) left noenhanced
set rmargin (ngroups > 6 ? 9 : 4)
set ylabel "final ".acc_word." accuracy (%)"
set key top left box opaque
stats f using 6 nooutput
lo = STATS_min
stats f using 7 nooutput
hi = STATS_max
stats pd."/runs.tsv" using acc_run_col nooutput
lo = (STATS_min < lo ? STATS_min : lo); hi = (STATS_max > hi ? STATS_max : hi)
if (paper_comparable) { hi = (hi > paper_acc ? hi : paper_acc) }
span = hi - lo + 1
set yrange [lo - 0.1*span : hi + 0.25*span]
do for [fmt in formats] {
    eval start(fmt, "final_accuracy")
    set title "Final ".acc_word." accuracy: mean with its band (see the key), and each seed\n".setting_short noenhanced
    if (paper_comparable) {
        set arrow 1 from graph 0, first paper_acc to graph 1, first paper_acc nohead dt 2 lw 1.5 lc rgb "#d62728" front
        set label 1 sprintf("paper, DAO-E: %.1f %%", paper_acc) at graph 0.02, first paper_acc offset 0,0.7 tc rgb "#d62728" front
    } else { unset arrow 1; unset label 1 }
    plot f using 1:4:6:7:(colh(strcol(2))):xtic(lab(strcol(2))) with yerrorbars lc rgb variable pt 7 ps 1.6 lw 2 title "mean; ".band_note, \
         pd."/runs.tsv" using ($1+0.18):acc_run_col:(colh(strcol(2))) with points lc rgb variable pt 6 ps 1.0 title "one seed"
    unset output
}
