# Training throughput per optimizer (images/s, mean over seeds with the band of band_note).
load system("dirname '".ARG0."'")."/common.gp"
f = pd."/throughput.tsv"
set style fill solid 0.55 border -1
set boxwidth 0.6
set xrange [-0.6:ngroups-0.4]
set xtics rotate by (ngroups > 6 ? -45 : -30) left noenhanced
set rmargin (ngroups > 6 ? 9 : 4)
set ylabel "training images / s"
set yrange [0:*]
set key top left box opaque
do for [fmt in formats] {
    eval start(fmt, "throughput")
    set title "Training throughput (mean over seeds with its band, see the key)\n".setting_short noenhanced
    plot f using 1:4:(colh(strcol(2))):xtic(lab(strcol(2))) with boxes lc rgb variable notitle, \
         '' using 1:4:5:6 with yerrorbars lc rgb "black" pt 7 ps 0 lw 1.5 title band_note
    unset output
}
