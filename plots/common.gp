# Shared settings of the figure scripts (loaded by each of them).
# Call a script as:  gnuplot -e "dir='results/smoke'; out='results/smoke/figures'" plots/NAME.gp
# dir/plotdata/ is written by daoe-stats; figures go to out/ as PNG (pngcairo) and PDF (pdfcairo).
if (!exists("dir")) dir = "results/smoke"
if (!exists("out")) out = dir."/figures"
if (!exists("formats")) formats = "png pdf"
pd = dir."/plotdata"
load pd."/meta.gp"
system("mkdir -p '".out."'")

# the same colour for an optimizer in every figure (colh: integer for "lc rgb variable");
# other groups (ablation settings) by their place in the list
gidx(g) = sum [i=1:words(groups)] (word(groups, i) eq g ? i : 0)
colh(g) = g eq "sgd" ? 0x1f77b4 : g eq "adam" ? 0xff7f0e : g eq "adamw" ? 0x8c564b : \
          g eq "rmsprop" ? 0x2ca02c : g eq "lion" ? 0x9467bd : g eq "daoe" ? 0xd62728 : \
          int(word("14034728 2062260 16744206 2924588 9725885 9197131 14907330 8355711 12369084 1556175", \
                   ((gidx(g) - 1) % 10) + 1))
col(g) = sprintf("#%06x", colh(g))
lab(g) = g eq "daoe" ? "DAO-E" : g eq "sgd" ? "SGD" : g eq "adam" ? "Adam" : g eq "adamw" ? "AdamW" : \
         g eq "rmsprop" ? "RMSProp" : g eq "lion" ? "Lion" : g
mcol(m) = word("#1f77b4 #ff7f0e #2ca02c #9467bd", m)
mlab(m) = word("SGD Adam RMSProp Lion", m)

# start(fmt, name): terminal and output for one format
start(fmt, name) = fmt eq "png" ? \
    sprintf("set terminal pngcairo size 1000,650 enhanced font 'Sans,12' linewidth 1.5; set output '%s/%s.png'", out, name) : \
    sprintf("set terminal pdfcairo size 6.5in,4.2in enhanced font 'Sans,10' linewidth 1.5; set output '%s/%s.pdf'", out, name)
set encoding utf8
set grid lc rgb "#dddddd"
set border lc rgb "#444444"
set key noenhanced
