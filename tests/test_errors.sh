#!/bin/sh
# Bad input gets one clear line and a non-zero exit, never a crash or partial
# output: broken data files (truncated, wrong size, label >= 10, missing file,
# missing folder, wrong sha256 with --verify-data), bad options and values,
# malformed checkpoints for --init-from and --resume.
# usage: test_errors.sh DAOE_TRAIN WORKDIR   (needs CIFAR10_DIR, else skip 77)
T=$1
W=$2
D=${CIFAR10_DIR:-}
if [ -z "$D" ] || [ ! -f "$D/test_batch.bin" ]; then echo "CIFAR10_DIR not set or empty: skipped"; exit 77; fi
rm -rf "$W"
mkdir -p "$W"
FILES="data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin"
fails=0
mkcase() { mkdir -p "$W/$1"; for f in $FILES; do ln -s "$D/$f" "$W/$1/$f"; done; }

# expect NAME EXIT_CODES PATTERN ARGS...: exactly one line on stderr matching PATTERN,
# exit status in EXIT_CODES, and no run folder output (no summary.json)
expect() {
    name=$1; codes=$2; pat=$3; shift 3
    out="$W/out_$name"
    "$T" --out "$out" --epochs 1 --width 4 --train-subset 256 --val 0 --test-subset 256 --quiet "$@" > "$W/$name.stdout" 2> "$W/$name.err"
    rc=$?
    n=$(wc -l < "$W/$name.err")
    ok=1
    case " $codes " in *" $rc "*) ;; *) ok=0 ;; esac
    [ "$n" -eq 1 ] || ok=0
    grep -q -- "$pat" "$W/$name.err" || ok=0
    [ ! -e "$out/summary.json" ] || ok=0
    if [ $ok -eq 1 ]; then
        echo "ok   $name (exit $rc): $(cat "$W/$name.err")"
    else
        echo "FAIL $name: exit $rc (want $codes), $n line(s) (want 1), pattern '$pat'"
        sed 's/^/     stderr: /' "$W/$name.err"
        fails=$((fails + 1))
    fi
}

mkcase trunc; rm "$W/trunc/data_batch_3.bin"; head -c 1000000 "$D/data_batch_3.bin" > "$W/trunc/data_batch_3.bin"
expect truncated "1 2" "trunc/data_batch_3.bin: truncated" --data "$W/trunc"

mkcase big; rm "$W/big/test_batch.bin"; { cat "$D/test_batch.bin"; printf 'extra bytes'; } > "$W/big/test_batch.bin"
expect wrong_size "1 2" "big/test_batch.bin: wrong size" --data "$W/big"

mkcase label; rm "$W/label/data_batch_2.bin"; cp "$D/data_batch_2.bin" "$W/label/"
printf '\014' | dd of="$W/label/data_batch_2.bin" bs=1 seek=$((3073 * 17)) conv=notrunc 2> /dev/null
expect bad_label "1 2" "label/data_batch_2.bin: record 17: label 12 out of range" --data "$W/label"

mkcase missing; rm "$W/missing/data_batch_5.bin"
expect missing_file "1 2" "missing/data_batch_5.bin: missing" --data "$W/missing"
expect missing_dir "1 2" "nonexistent: data directory missing" --data "$W/nonexistent"

mkcase pixel; rm "$W/pixel/data_batch_4.bin"; cp "$D/data_batch_4.bin" "$W/pixel/"
printf '\001' | dd of="$W/pixel/data_batch_4.bin" bs=1 seek=100 conv=notrunc 2> /dev/null
expect sha256 "1 2" "pixel/data_batch_4.bin: sha256 .* differs from the official" --data "$W/pixel" --verify-data

expect unknown_option "2" "unknown option --frobnicate" --data "$D" --frobnicate
expect out_of_range "2" "\-\-epochs: 0 out of range" --data "$D" --epochs 0
expect not_a_number "2" "\-\-lr: 'fast' is not a number" --data "$D" --lr fast
expect bad_choice "2" "\-\-optimizer: 'adagrad' is not" --data "$D" --optimizer adagrad
expect wrong_member "2" "\-\-lion-\* given but lion is not a member" --data "$D" --optimizer daoe --members sgd,adam --lion-lr 0.1
expect subset_too_big "2" "\-\-train-subset 48000 is larger than the training split" --data "$D" --val 5000 --train-subset 48000

printf 'not a checkpoint at all' > "$W/garbage.safetensors"
expect ckpt_garbage "1 2" "garbage.safetensors: malformed safetensors header" --data "$D" --init-from "$W/garbage.safetensors"
# a real checkpoint of another width, and one cut short
"$T" --out "$W/w8" --data "$D" --width 8 --epochs 1 --train-subset 256 --val 0 --test-subset 256 --quiet --save-init > /dev/null 2>&1
expect ckpt_width "1 2" "w8/init.safetensors: tensor conv1.weight: shape \[8, 3, 3, 3\], expected \[4, 3, 3, 3\]" --data "$D" --init-from "$W/w8/init.safetensors"
head -c 20000 "$W/w8/init.safetensors" > "$W/cut.safetensors"
expect ckpt_truncated "1 2" "cut.safetensors: .*truncated" --data "$D" --width 8 --init-from "$W/cut.safetensors"
expect ckpt_missing "1 2" "nothere.safetensors: cannot open" --data "$D" --init-from "$W/nothere.safetensors"

# --resume over a checkpoint that is not one: refused by name (daoe_run_probe: damaged), nothing written
mkdir -p "$W/out_resume_garbage"
printf 'not a checkpoint' > "$W/out_resume_garbage/checkpoint.safetensors"
expect resume_garbage "1" "out_resume_garbage/checkpoint.safetensors: malformed safetensors header.*delete it to start over" \
    --data "$D" --resume

if [ $fails -ne 0 ]; then echo "test_errors: $fails case(s) FAILED"; exit 1; fi
echo "test_errors: all cases passed"
