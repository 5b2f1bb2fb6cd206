# ns per packet against rule count (make bench): edgefw matching the last rule
# and dropping with no rule, against xdp-filter, the oracle and the floor.
# gnuplot -e "data='F'; out='F.svg'; floor=N; oracle=N; xf=N; xfd=N; xfa=N" tools/bench/plot.gp
# data: "rules match_ns deny_ns" lines.
set terminal svg size 1060,420 dynamic font "sans,12" background "white"
set output out
set logscale x 10
set xrange [70:14000]
set yrange [0:*]
set xtics ("100" 100, "1,000" 1000, "10,000" 10000)
set xlabel "rules in the synthetic policy"
set ylabel "ns per packet (BPF\\_PROG\\_TEST\\_RUN, median)"
set key outside right center vertical Left reverse samplen 3 spacing 1.2
set grid ytics
set title "edgefw: cost per packet against policy size"
plot data using 1:2 with linespoints lw 2 pt 7 title "edgefw, packet matches the last rule", \
     data using 1:3 with linespoints lw 2 pt 5 title "edgefw, no rule (default drop)", \
     xf with lines lw 2 dt 2 title "xdp-filter deny policy, allowed port (port array: any count)", \
     xfd with lines lw 2 dt 3 title "xdp-filter deny policy, denied port", \
     xfa with lines lw 2 dt 5 title "xdp-filter allow policy (ports + source addresses), passed", \
     oracle with lines lw 1 dt 4 lc rgb "gray40" title "oracle: parse + 1 hash lookup + counter", \
     floor with lines lw 1 dt 1 lc rgb "gray70" title "floor: empty XDP program"
