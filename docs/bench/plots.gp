# growmap-bench plots, written by growmap-bench.
# Redraw: gnuplot plots.gp, or for a copied directory
#         gnuplot -e "dir='path'" plots.gp
if (!exists("dir")) dir = '/tmp/benchrun'
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    pngterm = "pngcairo size 900,500 noenhanced font 'Sans,10'"
} else {
    pngterm = "png size 900,500 noenhanced"
}
svgterm = "svg size 900,500 noenhanced font 'Sans,10' background '#ffffff'"
set linetype 1 lc rgb '#4477AA' lw 1 pt 7
set linetype 2 lc rgb '#EE6677' lw 1 pt 7
set linetype 3 lc rgb '#228833' lw 1 pt 7
set linetype 4 lc rgb '#CCBB44' lw 1 pt 7
set linetype 5 lc rgb '#66CCEE' lw 1 pt 7
set linetype 6 lc rgb '#AA3377' lw 1 pt 7
set linetype 7 lc rgb '#BBBBBB' lw 1 pt 7
set linetype 8 lc rgb '#000000' lw 1 pt 7
set linetype cycle 8

# ---- seqfill ----
reset
set terminal @pngterm
set output dir.'/'."seqfill".'.png'
set title "(a) sequential fill of a new 1 GiB file, sync+close"
set ylabel "speed relative to K1 (K1 median time / median time)"
set xrange [-0.6:4.4]
set yrange [0:1.829]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "K1" 2, "K2" 3, "pwrite" 4)
set ytics nomirror
set border 3
set grid ytics lc rgb '#dddddd'
set style fill solid 0.85 border lc rgb '#333333'
set key below horizontal samplen 2
set style textbox opaque noborder margins 0.5,0.5
datafile = dir.'/'."seqfill".'.dat'
plot datafile using 1:3:(0.6):9 with boxes lc variable notitle, \
     datafile using 1:3:4:5 with yerrorbars lc rgb 'black' pt 7 ps 0.4 title 'min..max of the runs', \
     1 with lines dt 2 lw 1.5 lc rgb 'black' title 'K1 = 1.0', \
     datafile using 1:10:(sprintf('%.2fx', $3)) with labels offset 0,0.8 boxed notitle
set terminal @svgterm
set output dir.'/'."seqfill".'.svg'
replot
unset output

# ---- sparse ----
reset
set terminal @pngterm
set output dir.'/'."sparse".'.png'
set title "(b) 16384 random first-touch stores in 4 GiB, sync+close"
set ylabel "speed relative to K1 (K1 median time / median time)"
set xrange [-0.6:3.4]
set yrange [0:1.74191]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "K1" 2, "K2" 3)
set ytics nomirror
set border 3
set grid ytics lc rgb '#dddddd'
set style fill solid 0.85 border lc rgb '#333333'
set key below horizontal samplen 2
set style textbox opaque noborder margins 0.5,0.5
datafile = dir.'/'."sparse".'.dat'
plot datafile using 1:3:(0.6):9 with boxes lc variable notitle, \
     datafile using 1:3:4:5 with yerrorbars lc rgb 'black' pt 7 ps 0.4 title 'min..max of the runs', \
     1 with lines dt 2 lw 1.5 lc rgb 'black' title 'K1 = 1.0', \
     datafile using 1:10:(sprintf('%.2fx', $3)) with labels offset 0,0.8 boxed notitle
set terminal @svgterm
set output dir.'/'."sparse".'.svg'
replot
unset output

# ---- read-cold ----
reset
set terminal @pngterm
set output dir.'/'."read-cold".'.png'
set title "(c) read a 1 GiB file through the mapping, cold cache"
set ylabel "speed relative to K1 (K1 median time / median time)"
set xrange [-0.6:3.4]
set yrange [0:1.33802]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "K1" 2, "K2" 3)
set ytics nomirror
set border 3
set grid ytics lc rgb '#dddddd'
set style fill solid 0.85 border lc rgb '#333333'
set key below horizontal samplen 2
set style textbox opaque noborder margins 0.5,0.5
datafile = dir.'/'."read-cold".'.dat'
plot datafile using 1:3:(0.6):9 with boxes lc variable notitle, \
     datafile using 1:3:4:5 with yerrorbars lc rgb 'black' pt 7 ps 0.4 title 'min..max of the runs', \
     1 with lines dt 2 lw 1.5 lc rgb 'black' title 'K1 = 1.0', \
     datafile using 1:10:(sprintf('%.2fx', $3)) with labels offset 0,0.8 boxed notitle
set terminal @svgterm
set output dir.'/'."read-cold".'.svg'
replot
unset output

# ---- read-warm ----
reset
set terminal @pngterm
set output dir.'/'."read-warm".'.png'
set title "(c) read a 1 GiB file through the mapping, warm cache"
set ylabel "speed relative to K1 (K1 median time / median time)"
set xrange [-0.6:3.4]
set yrange [0:1.20997]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "K1" 2, "K2" 3)
set ytics nomirror
set border 3
set grid ytics lc rgb '#dddddd'
set style fill solid 0.85 border lc rgb '#333333'
set key below horizontal samplen 2
set style textbox opaque noborder margins 0.5,0.5
datafile = dir.'/'."read-warm".'.dat'
plot datafile using 1:3:(0.6):9 with boxes lc variable notitle, \
     datafile using 1:3:4:5 with yerrorbars lc rgb 'black' pt 7 ps 0.4 title 'min..max of the runs', \
     1 with lines dt 2 lw 1.5 lc rgb 'black' title 'K1 = 1.0', \
     datafile using 1:10:(sprintf('%.2fx', $3)) with labels offset 0,0.8 boxed notitle
set terminal @svgterm
set output dir.'/'."read-warm".'.svg'
replot
unset output

# ---- read-rw ----
reset
set terminal @pngterm
set output dir.'/'."read-rw".'.png'
set title "(c) read a 1 GiB file through a writable mapping, warm cache"
set ylabel "speed relative to K1 (K1 median time / median time)"
set xrange [-0.6:3.4]
set yrange [0:1.21424]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "K1" 2, "K2" 3)
set ytics nomirror
set border 3
set grid ytics lc rgb '#dddddd'
set style fill solid 0.85 border lc rgb '#333333'
set key below horizontal samplen 2
set style textbox opaque noborder margins 0.5,0.5
datafile = dir.'/'."read-rw".'.dat'
plot datafile using 1:3:(0.6):9 with boxes lc variable notitle, \
     datafile using 1:3:4:5 with yerrorbars lc rgb 'black' pt 7 ps 0.4 title 'min..max of the runs', \
     1 with lines dt 2 lw 1.5 lc rgb 'black' title 'K1 = 1.0', \
     datafile using 1:10:(sprintf('%.2fx', $3)) with labels offset 0,0.8 boxed notitle
set terminal @svgterm
set output dir.'/'."read-rw".'.svg'
replot
unset output

# ---- rewrite ----
reset
set terminal @pngterm
set output dir.'/'."rewrite".'.png'
set title "(d) 4096 random 64 KiB rewrites of a 1 GiB file, sync"
set ylabel "speed relative to K1 (K1 median time / median time)"
set xrange [-0.6:3.4]
set yrange [0:2.25179]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "K1" 2, "pwrite" 3)
set ytics nomirror
set border 3
set grid ytics lc rgb '#dddddd'
set style fill solid 0.85 border lc rgb '#333333'
set key below horizontal samplen 2
set style textbox opaque noborder margins 0.5,0.5
datafile = dir.'/'."rewrite".'.dat'
plot datafile using 1:3:(0.6):9 with boxes lc variable notitle, \
     datafile using 1:3:4:5 with yerrorbars lc rgb 'black' pt 7 ps 0.4 title 'min..max of the runs', \
     1 with lines dt 2 lw 1.5 lc rgb 'black' title 'K1 = 1.0', \
     datafile using 1:10:(sprintf('%.2fx', $3)) with labels offset 0,0.8 boxed notitle
set terminal @svgterm
set output dir.'/'."rewrite".'.svg'
replot
unset output

# ---- threads-1 ----
reset
set terminal @pngterm
set output dir.'/'."threads-1".'.png'
set title "(e) 1 thread filling a new 1 GiB file, sync+close"
set ylabel "speed relative to K1 (K1 median time / median time)"
set xrange [-0.6:3.4]
set yrange [0:1.25895]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "K1" 2, "K2" 3)
set ytics nomirror
set border 3
set grid ytics lc rgb '#dddddd'
set style fill solid 0.85 border lc rgb '#333333'
set key below horizontal samplen 2
set style textbox opaque noborder margins 0.5,0.5
datafile = dir.'/'."threads-1".'.dat'
plot datafile using 1:3:(0.6):9 with boxes lc variable notitle, \
     datafile using 1:3:4:5 with yerrorbars lc rgb 'black' pt 7 ps 0.4 title 'min..max of the runs', \
     1 with lines dt 2 lw 1.5 lc rgb 'black' title 'K1 = 1.0', \
     datafile using 1:10:(sprintf('%.2fx', $3)) with labels offset 0,0.8 boxed notitle
set terminal @svgterm
set output dir.'/'."threads-1".'.svg'
replot
unset output

# ---- threads-n ----
reset
set terminal @pngterm
set output dir.'/'."threads-n".'.png'
set title "(e) 2 threads filling a new 1 GiB file, sync+close"
set ylabel "speed relative to K1 (K1 median time / median time)"
set xrange [-0.6:3.4]
set yrange [0:1.24778]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "K1" 2, "K2" 3)
set ytics nomirror
set border 3
set grid ytics lc rgb '#dddddd'
set style fill solid 0.85 border lc rgb '#333333'
set key below horizontal samplen 2
set style textbox opaque noborder margins 0.5,0.5
datafile = dir.'/'."threads-n".'.dat'
plot datafile using 1:3:(0.6):9 with boxes lc variable notitle, \
     datafile using 1:3:4:5 with yerrorbars lc rgb 'black' pt 7 ps 0.4 title 'min..max of the runs', \
     1 with lines dt 2 lw 1.5 lc rgb 'black' title 'K1 = 1.0', \
     datafile using 1:10:(sprintf('%.2fx', $3)) with labels offset 0,0.8 boxed notitle
set terminal @svgterm
set output dir.'/'."threads-n".'.svg'
replot
unset output

# ---- summary ----
reset
set terminal @pngterm
set output dir.'/'."summary".'.png'
set title "growmap-bench: speed relative to K1 (K1 median time / median time; >1 is faster)"
set ylabel "speed relative to K1"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border lc rgb '#333333'
set boxwidth 0.9 relative
set xrange [-0.5:7.5]
set logscale y
set yrange [0.0270963:5.01563]
set xtics nomirror scale 0 ("seqfill" 0, "sparse" 1, "read-cold" 2, "read-warm" 3, "read-rw" 4, "rewrite" 5, "threads-1" 6, "threads-n" 7)
set ytics nomirror
set border 3
set grid ytics lc rgb '#dddddd'
set key outside right top vertical samplen 2
set style textbox opaque noborder margins 0.5,0.5
datafile = dir.'/'."summary".'.dat'
plot datafile using 2 lt 1 title "uffd", \
     datafile using 3 lt 2 title "signal", \
     datafile using 4 lt 3 title "K1", \
     datafile using 5 lt 4 title "K2", \
     datafile using 6 lt 5 title "pwrite", \
     1 with lines dt 2 lw 1.5 lc rgb 'black' title 'K1 = 1.0', \
     datafile using ($0-0.333333):2:(sprintf('%.2f', $2)) with labels rotate by 90 left offset 0,0.4 font ',8' boxed notitle, \
     datafile using ($0-0.166667):3:(sprintf('%.2f', $3)) with labels rotate by 90 left offset 0,0.4 font ',8' boxed notitle, \
     datafile using ($0+0):4:(sprintf('%.2f', $4)) with labels rotate by 90 left offset 0,0.4 font ',8' boxed notitle, \
     datafile using ($0+0.166667):5:(sprintf('%.2f', $5)) with labels rotate by 90 left offset 0,0.4 font ',8' boxed notitle, \
     datafile using ($0+0.333333):6:(sprintf('%.2f', $6)) with labels rotate by 90 left offset 0,0.4 font ',8' boxed notitle
set terminal @svgterm
set output dir.'/'."summary".'.svg'
replot
unset output

# ---- latency-sparse ----
reset
set terminal @pngterm
set output dir.'/'."latency-sparse".'.png'
set title "(b) 16384 random first-touch stores in 4 GiB, sync+close  -  first-touch latency"
set xlabel "first-touch latency (ns)"
set ylabel "fraction of touches per bin (20 bins per decade)"
set logscale x 10
set xrange [707.946:1e+08]
set yrange [0:0.423341]
set xtics nomirror ("1k" 1000, "2k" 2000, "5k" 5000, "10k" 10000, "20k" 20000, "50k" 50000, "100k" 100000, "200k" 200000, "500k" 500000, "1M" 1e+06, "2M" 2e+06, "5M" 5e+06, "10M" 1e+07, "20M" 2e+07, "50M" 5e+07, "100M" 1e+08)
set ytics nomirror
set border 3
set grid xtics ytics lc rgb '#dddddd'
set key top right opaque box lc rgb '#999999'
datafile = dir.'/'."latency-sparse".'.dat'
plot datafile using 1:3 with steps lw 2 lt 1 title "uffd: n=81920, p50 34.2 us, p99 109 us", \
     datafile using 1:4 with steps lw 2 lt 2 title "signal: n=81920, p50 220 us, p99 5.6 ms", \
     datafile using 1:5 with steps lw 2 lt 3 title "K1: n=81920, p50 5.92 us, p99 40.5 us", \
     datafile using 1:6 with steps lw 2 lt 4 title "K2: n=81920, p50 5.57 us, p99 77.7 us"
set terminal @svgterm
set output dir.'/'."latency-sparse".'.svg'
replot
unset output
