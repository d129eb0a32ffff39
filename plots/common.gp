# Shared settings of the figure scripts (loaded by each of them).
# Call a script as:  gnuplot -e "dir='results/smoke'; out='results/smoke/figures'" plots/NAME.gp
# dir/plotdata/ is written by daoe-stats; figures go to out/ as PNG (pngcairo), PDF (pdfcairo) and
# SVG (svg, no JavaScript: report.html shows these).
if (!exists("dir")) dir = "results/smoke"
if (!exists("out")) out = dir."/figures"
if (!exists("formats")) formats = "png pdf svg"
pd = dir."/plotdata"
load pd."/meta.gp"
system("mkdir -p '".out."'")

# The optimizers, their display names and the ensemble members come from meta.gp
# (daoe-stats writes them from the one list in lib/core/optimizer_list.c).
# the accuracy drawn (meta.gp: the test set's, a tuning's validation accuracy); plotdata written
# before daoe-stats said so is the test set's
if (!exists("acc")) { acc = "test"; acc_word = "test"; acc_curve_col = 3; acc_run_col = 4 }
if (!exists("optimizers")) { print "common.gp: ".pd."/meta.gp has no optimizer names: rerun daoe-stats on ".dir; exit status 1 }
oidx(g) = sum [i=1:words(optimizers)] (word(optimizers, i) eq g ? i : 0)
gidx(g) = sum [i=1:words(groups)] (word(groups, i) eq g ? i : 0)
lab(g) = oidx(g) ? word(optimizer_labels, oidx(g)) : g
mlab(m) = lab(word(members, m))
# the same colour for an optimizer in every figure (colh: integer for "lc rgb variable"),
# by its place in the list of optimizers (DAO-E always red; the palette has room for three more
# rules); other groups (ablation settings) by their place in groups
opt_colours = "2062260 16744206 9197131 2924588 9725885 12369084 8355711 1556175 14907330"
colh(g) = g eq "daoe" ? 14034728 : oidx(g) > 0 && oidx(g) <= words(opt_colours) ? int(word(opt_colours, oidx(g))) : \
          int(word("14034728 2062260 16744206 2924588 9725885 9197131 14907330 8355711 12369084 1556175", \
                   ((gidx(g) - 1) % 10) + 1))
col(g) = sprintf("#%06x", colh(g))
mcol(m) = col(word(members, m))

# start(fmt, name): terminal and output for one format
start(fmt, name) = fmt eq "png" ? \
    sprintf("set terminal pngcairo size 1000,650 enhanced font 'Sans,12' linewidth 1.5; set output '%s/%s.png'", out, name) : \
    fmt eq "svg" ? \
    sprintf("set terminal svg size 1000,650 enhanced font 'Sans,12' linewidth 1.5 background rgb 'white'; set output '%s/%s.svg'", out, name) : \
    sprintf("set terminal pdfcairo size 6.5in,4.2in enhanced font 'Sans,10' linewidth 1.5; set output '%s/%s.pdf'", out, name)
set encoding utf8
set grid lc rgb "#dddddd"
set border lc rgb "#444444"
set key noenhanced
# epochs without an evaluation (eval_every > 1) are "nan" in plotdata: skipped, and the curves
# connect the evaluated epochs (a nan the scripts compute, 1/0, still breaks a line)
set datafile missing "nan"
