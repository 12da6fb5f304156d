# Greedy set cover over the FT lines of a libFuzzer merge control file: prints the paths
# of at most CAP files, each adding the most features not yet covered (smaller on ties).
NR == 1 { n = $1; next }
NR == 2 { next }
NR <= n + 2 { path[NR - 3] = $0; next }
$1 == "STARTED" { size[$2] = $3; next }
$1 == "FT" { nf[$2] = NF - 2; for (i = 3; i <= NF; i++) ft[$2, i - 2] = $i; next }
END {
  for (k = 0; k < CAP; k++) {
    best = -1; gain = 0
    for (f in nf) {
      if (f in taken) continue
      g = 0
      for (i = 1; i <= nf[f]; i++) if (!(ft[f, i] in covered)) g++
      if (g > gain || (g == gain && g > 0 && size[f] < size[best])) { best = f; gain = g }
    }
    if (best < 0) break
    taken[best] = 1
    for (i = 1; i <= nf[best]; i++) covered[ft[best, i]] = 1
    print path[best]
  }
  for (f in nf) for (i = 1; i <= nf[f]; i++) all[ft[f, i]] = 1
  c = 0; t = 0
  for (x in all) { t++; if (x in covered) c++ }
  printf "kept %d files covering %d of %d features\n", k, c, t > "/dev/stderr"
}
