# Performance profiles (Agarwal et al. 2021; Dolan and More 2002): for every threshold tau, the
# fraction of a group's runs whose final test accuracy (a tuning's: validation) is at least tau. Finished and diverged runs
# count (a diverged run is below every threshold); a curve further right is better.
load system("dirname '".ARG0."'")."/common.gp"
f = pd."/profile.tsv"
if (ngroups == 0) { print "profile.gp: no finished runs in ".dir.": nothing to draw"; exit }
set xlabel "threshold tau: final ".acc_word." accuracy (%)"
set ylabel "fraction of runs with final ".acc_word." accuracy >= tau"
set yrange [-0.02:1.02]
set ytics 0.1
set autoscale xfix
set key outside right top box opaque reverse Left width 1
do for [fmt in formats] {
    eval start(fmt, "performance_profile")
    set title "Performance profiles of final ".acc_word." accuracy (every run; diverged runs count as below every threshold)\n".setting_short noenhanced
    plot for [i=1:ngroups] f using 1:(column(i+1)) with fsteps lw 2 lc rgb col(word(groups, i)) title lab(word(groups, i))
    unset output
}
