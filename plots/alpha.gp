# DAO-E over training: the mixing weights alpha (stacked) and each member's share of the
# applied update, alpha_i|d_i| / sum_j alpha_j|d_j| (stacked), mean over seeds at each traced step.
load system("dirname '".ARG0."'")."/common.gp"
if (alpha_group eq "") { print "alpha.gp: no DAO-E runs in ".dir.": nothing to draw"; exit }
f = pd."/alpha_".alpha_group.".tsv"
set xlabel "epoch"
set yrange [0:1]
set ytics 0.1
set key outside right top box opaque reverse Left width 2
set autoscale xfix
if (nepochs <= 20) { set xtics 1 }
set style fill solid 0.85 noborder
do for [fmt in formats] {
    eval start(fmt, "alpha")
    set title "DAO-E (".alpha_group."): mixing weights alpha over training (stacked, mean over seeds)\n".setting_short noenhanced
    set ylabel "alpha"
    plot f using 2:($4+$5+$6):($4+$5+$6+$7) with filledcurves fc rgb mcol(4) title mlab(4), \
         f using 2:($4+$5):($4+$5+$6) with filledcurves fc rgb mcol(3) title mlab(3), \
         f using 2:4:($4+$5) with filledcurves fc rgb mcol(2) title mlab(2), \
         f using 2:(0):4 with filledcurves fc rgb mcol(1) title mlab(1)
    eval start(fmt, "share")
    set title "DAO-E (".alpha_group."): share of the applied update, alpha_i |d_i| / sum_j alpha_j |d_j| (stacked)\n".setting_short noenhanced
    set ylabel "share of the update"
    plot f using 2:($8+$9+$10):($8+$9+$10+$11) with filledcurves fc rgb mcol(4) title mlab(4), \
         f using 2:($8+$9):($8+$9+$10) with filledcurves fc rgb mcol(3) title mlab(3), \
         f using 2:8:($8+$9) with filledcurves fc rgb mcol(2) title mlab(2), \
         f using 2:(0):8 with filledcurves fc rgb mcol(1) title mlab(1)
    unset output
}
