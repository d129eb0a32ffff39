# Sourced by the scripts that compare daoe-train run folders byte for byte
# (tests/runs_common.sh, bench/gpu_verify.sh).
# strip EPOCHS_CSV: the file without its time columns (seconds, train_seconds,
# images_per_second = 9, 10, 11)
strip() { cut -d, -f1-8,12- "$1"; }
# same RUN REF: the same final weights, alpha.csv and epochs.csv (time columns aside)
same() {
    cmp -s "$1/final.safetensors" "$2/final.safetensors" && cmp -s "$1/alpha.csv" "$2/alpha.csv" &&
        [ "$(strip "$1/epochs.csv")" = "$(strip "$2/epochs.csv")" ]
}
