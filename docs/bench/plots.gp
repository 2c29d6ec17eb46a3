# growmap-bench plots, written by growmap-bench.
# Redraw: gnuplot plots.gp, or for a copied directory
#         gnuplot -e "dir='path'" plots.gp
if (!exists("dir")) dir = 'docs/bench'
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
set xrange [-0.6:7.4]
set yrange [0:1.55181]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "uffd-own" 2, "signal-own" 3, "uffd-sys" 4, "K1" 5, "K2" 6, "pwrite" 7)
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

# ---- seqfill-2g ----
reset
set terminal @pngterm
set output dir.'/'."seqfill-2g".'.png'
set title "(a) sequential fill of a new 2 GiB file, sync+close"
set ylabel "speed relative to K1 (K1 median time / median time)"
set xrange [-0.6:7.4]
set yrange [0:1.57955]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "uffd-own" 2, "signal-own" 3, "uffd-sys" 4, "K1" 5, "K2" 6, "pwrite" 7)
set ytics nomirror
set border 3
set grid ytics lc rgb '#dddddd'
set style fill solid 0.85 border lc rgb '#333333'
set key below horizontal samplen 2
set style textbox opaque noborder margins 0.5,0.5
datafile = dir.'/'."seqfill-2g".'.dat'
plot datafile using 1:3:(0.6):9 with boxes lc variable notitle, \
     datafile using 1:3:4:5 with yerrorbars lc rgb 'black' pt 7 ps 0.4 title 'min..max of the runs', \
     1 with lines dt 2 lw 1.5 lc rgb 'black' title 'K1 = 1.0', \
     datafile using 1:10:(sprintf('%.2fx', $3)) with labels offset 0,0.8 boxed notitle
set terminal @svgterm
set output dir.'/'."seqfill-2g".'.svg'
replot
unset output

# ---- sparse ----
reset
set terminal @pngterm
set output dir.'/'."sparse".'.png'
set title "(b) 16384 random first-touch stores in 4 GiB, sync+close"
set ylabel "speed relative to K1 (K1 median time / median time)"
set xrange [-0.6:4.4]
set yrange [0:1.21015]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "uffd-sys" 2, "K1" 3, "K2" 4)
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
set yrange [0:1.66851]
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
set yrange [0:1.1704]
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
set yrange [0:1.17125]
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

# ---- read-rw-cold ----
reset
set terminal @pngterm
set output dir.'/'."read-rw-cold".'.png'
set title "(c) read a 1 GiB file through a writable mapping, cold cache"
set ylabel "speed relative to K1 (K1 median time / median time)"
set xrange [-0.6:3.4]
set yrange [0:1.2649]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "K1" 2, "K2" 3)
set ytics nomirror
set border 3
set grid ytics lc rgb '#dddddd'
set style fill solid 0.85 border lc rgb '#333333'
set key below horizontal samplen 2
set style textbox opaque noborder margins 0.5,0.5
datafile = dir.'/'."read-rw-cold".'.dat'
plot datafile using 1:3:(0.6):9 with boxes lc variable notitle, \
     datafile using 1:3:4:5 with yerrorbars lc rgb 'black' pt 7 ps 0.4 title 'min..max of the runs', \
     1 with lines dt 2 lw 1.5 lc rgb 'black' title 'K1 = 1.0', \
     datafile using 1:10:(sprintf('%.2fx', $3)) with labels offset 0,0.8 boxed notitle
set terminal @svgterm
set output dir.'/'."read-rw-cold".'.svg'
replot
unset output

# ---- rewrite ----
reset
set terminal @pngterm
set output dir.'/'."rewrite".'.png'
set title "(d) 4096 random 64 KiB rewrites of a 1 GiB file, sync"
set ylabel "speed relative to K1 (K1 median time / median time)"
set xrange [-0.6:6.4]
set yrange [0:1.82886]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "uffd-own" 2, "signal-own" 3, "uffd-sys" 4, "K1" 5, "pwrite" 6)
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
set xrange [-0.6:6.4]
set yrange [0:2.95939]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "uffd-own" 2, "signal-own" 3, "uffd-sys" 4, "K1" 5, "K2" 6)
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
set xrange [-0.6:6.4]
set yrange [0:1.384]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "uffd-own" 2, "signal-own" 3, "uffd-sys" 4, "K1" 5, "K2" 6)
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

# ---- memcg ----
reset
set terminal @pngterm
set output dir.'/'."memcg".'.png'
set title "(f) sequential fill of a new 1 GiB file in a 256 MiB memory cgroup, sync+close"
set ylabel "speed relative to K1 (K1 median time / median time)"
set xrange [-0.6:5.4]
set yrange [0:1.80965]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1, "uffd-own" 2, "signal-own" 3, "uffd-sys" 4, "K1" 5)
set ytics nomirror
set border 3
set grid ytics lc rgb '#dddddd'
set style fill solid 0.85 border lc rgb '#333333'
set key below horizontal samplen 2
set style textbox opaque noborder margins 0.5,0.5
datafile = dir.'/'."memcg".'.dat'
plot datafile using 1:3:(0.6):9 with boxes lc variable notitle, \
     datafile using 1:3:4:5 with yerrorbars lc rgb 'black' pt 7 ps 0.4 title 'min..max of the runs', \
     1 with lines dt 2 lw 1.5 lc rgb 'black' title 'K1 = 1.0', \
     datafile using 1:10:(sprintf('%.2fx', $3)) with labels offset 0,0.8 boxed notitle
set terminal @svgterm
set output dir.'/'."memcg".'.svg'
replot
unset output

# ---- reserve-8t ----
reset
set terminal @pngterm
set output dir.'/'."reserve-8t".'.png'
set title "(g) 8 TiB reservation of an empty file, a page stored at 0 and at 4 TiB, open..close  -  MB/s (no K1 run, so no ratio)"
set ylabel "MB/s at the median time (1 MB = 10^6 bytes)"
set xrange [-0.6:1.4]
set yrange [0:13.5667]
set xtics nomirror scale 0 ("uffd" 0, "signal" 1)
set ytics nomirror
set border 3
set grid ytics lc rgb '#dddddd'
set style fill solid 0.85 border lc rgb '#333333'
set key below horizontal samplen 2
set style textbox opaque noborder margins 0.5,0.5
datafile = dir.'/'."reserve-8t".'.dat'
plot datafile using 1:6:(0.6):9 with boxes lc variable notitle, \
     datafile using 1:6:7:8 with yerrorbars lc rgb 'black' pt 7 ps 0.4 title 'at min..max time of the runs', \
     datafile using 1:10:(sprintf($6 >= 100 ? '%.0f' : '%.3g', $6)) with labels offset 0,0.8 boxed notitle
set terminal @svgterm
set output dir.'/'."reserve-8t".'.svg'
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
set xrange [-0.5:11.5]
set yrange [0:2.59055]
set xtics nomirror scale 0 ("seqfill" 0, "seqfill-2g" 1, "sparse" 2, "read-cold" 3, "read-warm" 4, "read-rw" 5, "read-rw-cold" 6, "rewrite" 7, "threads-1" 8, "threads-n" 9, "memcg" 10, "reserve-8t (no K1)" 11)
set ytics nomirror
set border 3
set grid ytics lc rgb '#dddddd'
set key outside right top vertical samplen 2
set style textbox opaque noborder margins 0.5,0.5
set xtics rotate by 30 right
datafile = dir.'/'."summary".'.dat'
plot datafile using 2 lt 1 title "uffd", \
     datafile using 3 lt 2 title "signal", \
     datafile using 4 lt 3 title "uffd-own", \
     datafile using 5 lt 4 title "signal-own", \
     datafile using 6 lt 5 title "uffd-sys", \
     datafile using 7 lt 6 title "K1", \
     datafile using 8 lt 7 title "K2", \
     datafile using 9 lt 8 title "pwrite", \
     1 with lines dt 2 lw 1.5 lc rgb 'black' title 'K1 = 1.0', \
     datafile using ($0-0.388889):2:(sprintf('%.2f', $2)) with labels rotate by 90 left offset 0,0.4 font ',8' boxed notitle, \
     datafile using ($0-0.277778):3:(sprintf('%.2f', $3)) with labels rotate by 90 left offset 0,0.4 font ',8' boxed notitle, \
     datafile using ($0-0.166667):4:(sprintf('%.2f', $4)) with labels rotate by 90 left offset 0,0.4 font ',8' boxed notitle, \
     datafile using ($0-0.0555556):5:(sprintf('%.2f', $5)) with labels rotate by 90 left offset 0,0.4 font ',8' boxed notitle, \
     datafile using ($0+0.0555556):6:(sprintf('%.2f', $6)) with labels rotate by 90 left offset 0,0.4 font ',8' boxed notitle, \
     datafile using ($0+0.166667):7:(sprintf('%.2f', $7)) with labels rotate by 90 left offset 0,0.4 font ',8' boxed notitle, \
     datafile using ($0+0.277778):8:(sprintf('%.2f', $8)) with labels rotate by 90 left offset 0,0.4 font ',8' boxed notitle, \
     datafile using ($0+0.388889):9:(sprintf('%.2f', $9)) with labels rotate by 90 left offset 0,0.4 font ',8' boxed notitle
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
set xrange [1412.54:3.98107e+07]
set yrange [0:0.567766]
set xtics nomirror ("2k" 2000, "5k" 5000, "10k" 10000, "20k" 20000, "50k" 50000, "100k" 100000, "200k" 200000, "500k" 500000, "1M" 1e+06, "2M" 2e+06, "5M" 5e+06, "10M" 1e+07, "20M" 2e+07)
set ytics nomirror
set border 3
set grid xtics ytics lc rgb '#dddddd'
set key top right opaque box lc rgb '#999999'
datafile = dir.'/'."latency-sparse".'.dat'
plot datafile using 1:3 with steps lw 2 lt 1 title "uffd: n=81920, p50 37 us, p99 197 us", \
     datafile using 1:4 with steps lw 2 lt 2 title "signal: n=81920, p50 21.3 us, p99 180 us", \
     datafile using 1:5 with steps lw 2 lt 5 title "uffd-sys: n=81920, p50 27.4 us, p99 205 us", \
     datafile using 1:6 with steps lw 2 lt 6 title "K1: n=81920, p50 5.38 us, p99 15.3 us", \
     datafile using 1:7 with steps lw 2 lt 7 title "K2: n=81920, p50 5.34 us, p99 20.8 us"
set terminal @svgterm
set output dir.'/'."latency-sparse".'.svg'
replot
unset output
