# Ablation: final test accuracy of every DAO-E variant (mean and the band of band_note) against
# the full DAO-E (dashed line and grey band); the Holm-corrected Welch p-value beside each variant.
load system("dirname '".ARG0."'")."/common.gp"
f = pd."/ablation.tsv"
if (kind ne "ablation") { print "ablation.gp: ".dir." is not an ablation: nothing to draw"; exit }
stats f using 5 nooutput
lo = STATS_min
stats f using 6 nooutput
hi = STATS_max
span = hi - lo + 0.5
set xrange [lo - 0.15*span : hi + 0.45*span]
set yrange [ngroups-0.4:-0.6]
set ytics noenhanced
set xlabel "final test accuracy (%)"
set key off
do for [fmt in formats] {
    eval start(fmt, "ablation")
    set title "Ablation: DAO-E variants against '".compare_to."' (mean over seeds; ".band_note.")\n".setting_short noenhanced
    set object 1 rect from first ref_lo, graph 0 to first ref_hi, graph 1 fc rgb "#cccccc" fs transparent solid 0.35 noborder behind
    set arrow 1 from first ref_mean, graph 0 to first ref_mean, graph 1 nohead dt 2 lc rgb "#d62728"
    plot f using 4:1:5:6:ytic(strcol(2)) with xerrorbars pt 7 ps 1.0 lc rgb "#d62728" title "mean; ".band_note, \
         '' using (hi + 0.05*span):1:((strcol(2) eq compare_to) ? "reference" : sprintf("%+.2f pt, p_{Holm} = %.2g", $7, $10)) with labels left font ",9" notitle
    unset output
}
