/* The run folder's one rule (daoe_run_probe) state by state, on folders the
 * module's own writers make (config.json, epochs.csv, summary.json, final and
 * checkpoint files of a real width-4 session, no training): every state, each
 * kind of damage with its message, the exit-status rule the sweep engines
 * settle by, daoe-stats' results-only reading; the checkpoint's log read back
 * exactly; daoe_run_clear; ntrain; and the settings fingerprint pinned to
 * what the build before the module wrote (runs started then must resume); config.json's machine
 * record against /proc/cpuinfo read by grep.
 * usage: test_run_folder WORKDIR */
#include "daoe/run_folder.h"
#include "daoe/train.h"
#include "testutil.h"
#include <cjson/cJSON.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_root[900];
static daoe_config g_cfg; /* 3 epochs of 8 steps */
static daoe_session *g_s;

static const char *dir_of(const char *name) {
    static char d[1000];
    snprintf(d, sizeof d, "%s/%s", g_root, name);
    return d;
}

static void write_file(const char *dir, const char *name, const char *text) {
    char p[2300];
    FILE *f = fopen(daoe_run_path(p, sizeof p, dir, name), "w");
    fputs(text, f);
    fclose(f);
}

/* A run folder as daoe-train leaves it: config.json, nrows epoch rows, alpha.csv,
 * a checkpoint after them (ckpt), final.safetensors (weights), summary.json
 * with status (NULL: none; "diverged" at step 9); cfg NULL: g_cfg. */
static void make_run(const char *name, const daoe_config *cfg, int nrows, int ckpt, int weights, const char *status) {
    daoe_config c = cfg ? *cfg : g_cfg;
    snprintf(c.out, sizeof c.out, "%s", dir_of(name));
    daoe_run_folder rf;
    daoe_run_log lg;
    memset(&lg, 0, sizeof lg);
    char err[1024], p[2300];
    CHECK(daoe_run_open(&rf, &c, err, sizeof err) == 0, "%s: open: %s", name, err);
    lg.rows = daoe_xcalloc((size_t)(c.epochs + 1) * DAOE_NCOL, sizeof(double));
    for (lg.nrows = 0; lg.nrows < nrows; lg.nrows++) {
        lg.rows[lg.nrows * DAOE_NCOL + DAOE_COL_EPOCH] = lg.nrows + 1;
        lg.rows[lg.nrows * DAOE_NCOL + DAOE_COL_TEST_ACC] = 0.1 * (lg.nrows + 1);
    }
    lg.t = (long)nrows * g_s->steps_per_epoch;
    daoe_alpha_csv_header(&lg.alpha, DAOE_DEFAULT_MEMBERS);
    CHECK(daoe_run_write_config(&rf, g_s, err, sizeof err) == 0, "%s: config.json: %s", name, err);
    CHECK(daoe_run_write_log(&rf, &lg, err, sizeof err) == 0, "%s: log: %s", name, err);
    if (ckpt) CHECK(daoe_run_save_checkpoint(&rf, g_s, &lg, err, sizeof err) == 0, "%s: checkpoint: %s", name, err);
    if (weights)
        CHECK(daoe_session_save_weights(g_s, daoe_run_path(p, sizeof p, rf.dir, DAOE_RUN_FINAL), err, sizeof err) == 0,
              "%s: weights: %s", name, err);
    if (status)
        CHECK(daoe_run_write_summary(&rf, &lg, status, strcmp(status, DAOE_STATUS_DIVERGED) ? 0 : 9, 1.0, "test", err,
                                     sizeof err) == 0, "%s: summary: %s", name, err);
    daoe_run_close(&rf);
    daoe_run_log_free(&lg);
}

/* the state of folder name under q is want, and its problem contains has ("" none at all) */
static void expect(const char *what, const char *name, const daoe_run_query *q, daoe_run_state want, const char *has) {
    daoe_run_info info;
    daoe_run_state st = daoe_run_probe(dir_of(name), q, &info);
    CHECK(st == want, "%s: state %s, want %s (%s)", what, daoe_run_state_names[st], daoe_run_state_names[want],
          info.problem);
    if (has[0]) CHECK(strstr(info.problem, has), "%s: problem \"%s\" lacks \"%s\"", what, info.problem, has);
    else CHECK(!info.problem[0], "%s: problem \"%s\", want none", what, info.problem);
    if (st == want && (has[0] ? strstr(info.problem, has) != NULL : !info.problem[0]))
        printf("ok   %-58s %s%s%s\n", what, daoe_run_state_names[st], info.problem[0] ? ": " : "", info.problem);
}

static void flip_last_byte(const char *name, const char *file) {
    char p[2300];
    FILE *f = fopen(daoe_run_path(p, sizeof p, dir_of(name), file), "r+b");
    fseek(f, -1, SEEK_END);
    int c = fgetc(f);
    fseek(f, -1, SEEK_END);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static void remove_file(const char *name, const char *file) {
    char p[2300];
    unlink(daoe_run_path(p, sizeof p, dir_of(name), file));
}

/* ------------------------------------------------------------------ each state */
static void states(void) {
    const daoe_run_query plan = {.planned_epochs = 3};
    char sha[65];
    free(daoe_run_settings(&g_cfg, sha));
    const daoe_run_query mine = {.planned_epochs = 3, .settings_sha256 = sha};
    const daoe_run_query other = {.planned_epochs = 3, .settings_sha256 = "0123"};
    const daoe_run_query stats = {.planned_epochs = 3, .results_only = 1};

    expect("no folder", "absent", &plan, DAOE_RUN_EMPTY, "");
    make_run("early", NULL, 0, 0, 0, NULL);
    expect("killed before its first checkpoint", "early", &plan, DAOE_RUN_EMPTY, "");

    make_run("resumable", NULL, 1, 1, 0, NULL);
    expect("a checkpoint after epoch 1", "resumable", &plan, DAOE_RUN_RESUMABLE, "");
    expect("... with these settings", "resumable", &mine, DAOE_RUN_RESUMABLE, "");
    expect("... asked with other settings", "resumable", &other, DAOE_RUN_OTHER_SETTINGS, "written with other settings");
    make_run("interrupted", NULL, 1, 1, 0, DAOE_STATUS_INTERRUPTED);
    expect("summary.json interrupted, a checkpoint", "interrupted", &mine, DAOE_RUN_RESUMABLE, "");
    make_run("damaged", NULL, 1, 1, 0, DAOE_STATUS_INTERRUPTED);
    flip_last_byte("damaged", DAOE_RUN_CHECKPOINT);
    expect("a checkpoint with a bad byte", "damaged", &plan, DAOE_RUN_DAMAGED, "checkpoint.safetensors: damaged");
    expect("... read as results (not opened)", "damaged", &stats, DAOE_RUN_RESUMABLE, "");
    write_file(dir_of("damaged"), DAOE_RUN_CHECKPOINT, "not a checkpoint");
    expect("a checkpoint that is no safetensors", "damaged", &plan, DAOE_RUN_DAMAGED, "checkpoint.safetensors");

    make_run("finished", NULL, 3, 0, 1, DAOE_STATUS_FINISHED);
    expect("finished", "finished", &mine, DAOE_RUN_FINISHED, "");
    expect("finished, plan not known", "finished", NULL, DAOE_RUN_FINISHED, "");
    expect("finished, asked with other settings", "finished", &other, DAOE_RUN_OTHER_SETTINGS,
           "ended with other settings");
    const daoe_run_query longer = {.planned_epochs = 4};
    expect("finished, 4 epochs planned", "finished", &longer, DAOE_RUN_EMPTY, "epochs.csv has 3 rows for 4 epochs");
    make_run("diverged", NULL, 2, 0, 0, DAOE_STATUS_DIVERGED);
    expect("diverged in epoch 3", "diverged", &mine, DAOE_RUN_DIVERGED, "");
    expect("diverged, read as results", "diverged", &stats, DAOE_RUN_DIVERGED, "");

    /* damaged ends: redone, or resumed from a sound checkpoint */
    make_run("noweights", NULL, 3, 0, 1, DAOE_STATUS_FINISHED);
    remove_file("noweights", DAOE_RUN_FINAL);
    /* committed results keep no weights: finished, not run again (a clean clone resumes the sweep) */
    expect("finished, final.safetensors not kept", "noweights", &plan, DAOE_RUN_FINISHED, "");
    daoe_run_info nw;
    daoe_run_probe(dir_of("noweights"), &plan, &nw);
    CHECK(nw.no_weights == 1, "final.safetensors not kept: no_weights %d", nw.no_weights);
    daoe_run_probe(dir_of("finished"), &plan, &nw);
    CHECK(nw.no_weights == 0, "final.safetensors there: no_weights %d", nw.no_weights);
    expect("... read as results (no weights kept)", "noweights", &stats, DAOE_RUN_FINISHED, "");
    make_run("nontensors", NULL, 3, 1, 0, DAOE_STATUS_FINISHED);
    write_file(dir_of("nontensors"), DAOE_RUN_FINAL, "junk");
    expect("final.safetensors junk, a checkpoint beside", "nontensors", &plan, DAOE_RUN_RESUMABLE,
           "final.safetensors");
    make_run("shortcsv", NULL, 3, 0, 1, DAOE_STATUS_FINISHED);
    write_file(dir_of("shortcsv"), DAOE_RUN_EPOCHS, "epoch\n1\n");
    expect("epochs.csv short", "shortcsv", &plan, DAOE_RUN_EMPTY, "epochs.csv has 1 rows, summary.json says 3 epochs");
    expect("... read as results", "shortcsv", &stats, DAOE_RUN_EMPTY, "epochs.csv has 1 rows");
    remove_file("shortcsv", DAOE_RUN_EPOCHS);
    expect("epochs.csv missing", "shortcsv", &plan, DAOE_RUN_EMPTY, "epochs.csv has 0 rows");
    make_run("cut", NULL, 3, 0, 1, DAOE_STATUS_FINISHED);
    write_file(dir_of("cut"), DAOE_RUN_SUMMARY, "{\"status\": \"fini");
    expect("summary.json cut short", "cut", &plan, DAOE_RUN_EMPTY, "summary.json is not valid JSON");
    write_file(dir_of("cut"), DAOE_RUN_SUMMARY, "{\"epochs\": 3}");
    expect("summary.json without a status", "cut", &plan, DAOE_RUN_EMPTY, "summary.json has no status");
    make_run("divcut", NULL, 2, 1, 0, DAOE_STATUS_DIVERGED);
    write_file(dir_of("divcut"), DAOE_RUN_EPOCHS, "epoch\n");
    flip_last_byte("divcut", DAOE_RUN_CHECKPOINT);
    expect("diverged, epochs.csv short, checkpoint bad", "divcut", &plan, DAOE_RUN_DAMAGED,
           "epochs.csv has 0 rows, summary.json says 2 epochs; ");

    /* the trainer just ended with an exit status (the sweep engines settle by it) */
    daoe_run_query ex = {.planned_epochs = 3, .exited = 1};
    ex.exit_status = DAOE_EXIT_OK;
    expect("exit 0, finished", "finished", &ex, DAOE_RUN_FINISHED, "");
    expect("exit 0, diverged", "diverged", &ex, DAOE_RUN_FAILED, "");
    expect("exit 0, final.safetensors missing", "noweights", &ex, DAOE_RUN_FAILED, "final.safetensors");
    ex.exit_status = DAOE_EXIT_DIVERGED;
    expect("exit 3, diverged", "diverged", &ex, DAOE_RUN_DIVERGED, "");
    ex.exit_status = DAOE_EXIT_ERROR;
    expect("exit 1, finished before", "finished", &ex, DAOE_RUN_FAILED, "");
    ex.exit_status = DAOE_EXIT_INTERRUPTED;
    expect("exit 4 (interrupted)", "interrupted", &ex, DAOE_RUN_RESUMABLE, "");
    ex.exit_status = -1;
    expect("exit not known, finished", "finished", &ex, DAOE_RUN_FINISHED, "");
    expect("exit not known, a checkpoint only", "resumable", &ex, DAOE_RUN_FAILED, "");
}

/* ------------------------------------------------------------------ the rest */
/* the checkpoint's log back as it was written, the epoch under way included */
static void checkpoint_log(void) {
    daoe_config c = g_cfg;
    snprintf(c.out, sizeof c.out, "%s", dir_of("log"));
    daoe_run_folder rf;
    daoe_run_log lg, back;
    memset(&lg, 0, sizeof lg);
    memset(&back, 0, sizeof back);
    char err[1024];
    CHECK(daoe_run_open(&rf, &c, err, sizeof err) == 0, "log: open: %s", err);
    lg.rows = daoe_xcalloc((size_t)(c.epochs + 1) * DAOE_NCOL, sizeof(double));
    lg.nrows = 2;
    for (int i = 0; i < 2 * DAOE_NCOL; i++) lg.rows[i] = 0.25 * i - 3;
    daoe_sb_printf(&lg.alpha, "step,epoch\n1,1\n");
    lg.epoch_step = 3;
    lg.t = 2L * g_s->steps_per_epoch + lg.epoch_step;
    lg.train_seconds = 12.5;
    lg.train_images = 2048;
    lg.epoch_seconds = 1.75;
    lg.sums = (daoe_epoch_sums){.loss = 6.5, .correct = 40, .n = 96, .alpha = {0.5, 0.25}, .share = {0.125}, .nrec = 3};
    for (int i = 0; i < DAOE_K; i++) lg.alpha_first[i] = 0.25f, lg.alpha_last[i] = 0.1f * (float)(i + 1);
    /* a member without columns in the run's files (RAdam outside the default
     * mixture) has none in the checkpoint either: zero, as it reads back */
    const unsigned cols = daoe_run_columns(&c);
    for (int i = 0; i < DAOE_K; i++)
        if (!((cols >> i) & 1u)) {
            lg.alpha_first[i] = lg.alpha_last[i] = 0.0f;
            for (int r = 0; r < lg.nrows; r++) {
                double *row = lg.rows + (size_t)r * DAOE_NCOL;
                row[DAOE_COL_ALPHA + i] = row[DAOE_COL_SHARE + i] = 0.0;
            }
        }
    CHECK(daoe_run_save_checkpoint(&rf, g_s, &lg, err, sizeof err) == 0, "log: save: %s", err);
    CHECK(daoe_run_load_checkpoint(&rf, g_s, &back, err, sizeof err) == 0, "log: load: %s", err);
    CHECK(back.nrows == 2 && !memcmp(back.rows, lg.rows, sizeof(double) * 2 * DAOE_NCOL), "log: rows differ");
    CHECK(back.alpha.len == lg.alpha.len && !memcmp(back.alpha.s, lg.alpha.s, lg.alpha.len), "log: alpha.csv differs");
    CHECK(back.t == lg.t && back.epoch_step == 3 && back.train_seconds == 12.5 && back.train_images == 2048 &&
              back.epoch_seconds == 1.75 && g_s->t == lg.t, "log: counters differ (t %ld, step %d)", back.t,
          back.epoch_step);
    CHECK(!memcmp(&back.sums, &lg.sums, sizeof lg.sums), "log: the epoch's sums differ");
    CHECK(!memcmp(back.alpha_first, lg.alpha_first, sizeof lg.alpha_first) &&
              !memcmp(back.alpha_last, lg.alpha_last, sizeof lg.alpha_last), "log: alpha at the ends differs");
    printf("ok   the checkpoint's log read back exactly (rows, alpha.csv, counters, epoch under way)\n");
    daoe_run_close(&rf);
    daoe_run_log_free(&lg);
    daoe_run_log_free(&back);
}

/* a run starting over keeps config.json and the sweep's files, nothing of a result */
static void clear(void) {
    make_run("clear", NULL, 3, 1, 1, DAOE_STATUS_FINISHED);
    write_file(dir_of("clear"), DAOE_RUN_SWEEP_RECORD, "{}");
    write_file(dir_of("clear"), DAOE_RUN_TRAIN_LOG, "log\n");
    daoe_run_clear(dir_of("clear"));
    const char *gone[] = {DAOE_RUN_SUMMARY, DAOE_RUN_EPOCHS, DAOE_RUN_ALPHA, DAOE_RUN_FINAL, DAOE_RUN_CHECKPOINT};
    const char *kept[] = {DAOE_RUN_CONFIG, DAOE_RUN_SWEEP_RECORD, DAOE_RUN_TRAIN_LOG};
    char p[2300];
    for (int i = 0; i < 5; i++)
        CHECK(!daoe_file_exists(daoe_run_path(p, sizeof p, dir_of("clear"), gone[i])), "clear: %s left", gone[i]);
    for (int i = 0; i < 3; i++)
        CHECK(daoe_file_exists(daoe_run_path(p, sizeof p, dir_of("clear"), kept[i])), "clear: %s removed", kept[i]);
    expect("cleared", "clear", NULL, DAOE_RUN_EMPTY, "");
}

/* The fingerprint's bytes are a contract with every run started before: these are
 * the settings_sha256 that the build before this module (4be4209) wrote for a CPU-scale
 * DAO-E run and a tuned SGD one. If this fails, runs started earlier (a sweep under way)
 * can no longer resume: keep the bytes, or say which runs cannot resume and why. */
static void fingerprint(void) {
    static const struct { const char *flags, *sha; } pins[] = {
        {"--optimizer daoe --width 16 --epochs 10 --val 5000 --eval-every 2 --trace-every 10 --cpu-conv im2col",
         "3762c4f5ee1bc1ef626743b7d8ef20b8a1bd68f1fc810fc97460a9c9340f4bec"},
        {"--optimizer sgd --sgd-lr 0.05 --width 16 --epochs 10 --val 5000 --eval-every 2 --trace-every 10 "
         "--checkpoint-minutes 5 --threads 2 --quiet --cpu-conv im2col",
         "903b33525d408a1e532c7c5e0843336e2a363e52c20c450276e73c99fdfc5d9b"},
        /* the backend's switches (how, not what) stay out: the first pin's bytes */
        {"--optimizer daoe --width 16 --epochs 10 --val 5000 --eval-every 2 --trace-every 10 --cpu-conv im2col "
         "--no-graph --opt-generic --cudnn-search heuristic --debug-sync",
         "3762c4f5ee1bc1ef626743b7d8ef20b8a1bd68f1fc810fc97460a9c9340f4bec"},
    };
    setenv("DAOE_NO_GRAPH", "1", 1); /* and so do their variables */
    setenv("DAOE_CUDNN_SEARCH", "heuristic", 1);
    for (size_t i = 0; i < sizeof pins / sizeof pins[0]; i++) {
        daoe_config c;
        char err[1024], sha[65];
        daoe_config_defaults(&c);
        CHECK(daoe_config_from_flags(&c, pins[i].flags, err, sizeof err) == 0, "pin %zu: %s", i, err);
        snprintf(c.out, sizeof c.out, "/somewhere/else");
        free(daoe_run_settings(&c, sha));
        CHECK(!strcmp(sha, pins[i].sha), "the settings fingerprint of \"%s\" changed: %s, runs started before wrote %s",
              pins[i].flags, sha, pins[i].sha);
    }
    unsetenv("DAOE_NO_GRAPH");
    unsetenv("DAOE_CUDNN_SEARCH");
    printf("ok   the settings fingerprint: the bytes the build before wrote\n");
}

/* The backend's switches: a flag, else the variable its row names (on unless
 * empty or 0; a choice by name, a bad one refused naming the variable). */
static void switches(void) {
    daoe_config c;
    char err[1024];
    setenv("DAOE_OPT_GENERIC", "1", 1);
    setenv("DAOE_NO_GRAPH", "0", 1);
    setenv("DAOE_CUDNN_SEARCH", "heuristic", 1);
    daoe_config_defaults(&c);
    CHECK(daoe_config_from_flags(&c, "--debug-sync", err, sizeof err) == 0, "%s", err);
    daoe_backend_options o = daoe_config_backend_options(&c);
    CHECK(o.opt_generic && !o.no_graph && o.cudnn_search == DAOE_CUDNN_SEARCH_HEURISTIC && o.debug_sync,
          "switches from the environment: generic %d graph off %d search %d sync %d", o.opt_generic, o.no_graph,
          o.cudnn_search, o.debug_sync);
    daoe_config_defaults(&c);
    CHECK(daoe_config_from_flags(&c, "--cudnn-search timed", err, sizeof err) == 0, "%s", err);
    CHECK(c.cudnn_search == DAOE_CUDNN_SEARCH_TIMED, "the flag did not win over DAOE_CUDNN_SEARCH");
    setenv("DAOE_CUDNN_SEARCH", "fast", 1);
    daoe_config_defaults(&c);
    CHECK(daoe_config_from_flags(&c, "", err, sizeof err) != 0 && strstr(err, "DAOE_CUDNN_SEARCH"),
          "a bad DAOE_CUDNN_SEARCH was taken: %s", err);
    unsetenv("DAOE_OPT_GENERIC");
    unsetenv("DAOE_NO_GRAPH");
    unsetenv("DAOE_CUDNN_SEARCH");
    printf("ok   the backend's switches: flag, else environment\n");
}

static void ntrain(void) {
    daoe_config c;
    daoe_config_defaults(&c);
    CHECK(daoe_config_split(&c) == 45000 && daoe_config_ntrain(&c) == 45000, "ntrain of the defaults: %d",
          daoe_config_ntrain(&c));
    c.train_subset = 512, c.val = 128, c.batch = 64;
    CHECK(daoe_config_split(&c) == 49872 && daoe_config_ntrain(&c) == 512 && daoe_config_steps_per_epoch(&c) == 8,
          "ntrain of a subset: %d", daoe_config_ntrain(&c));
}

/* the first line of a shell pipeline's output, "" if none */
static void shell_line(const char *cmd, char *out, size_t n) {
    out[0] = 0;
    FILE *p = popen(cmd, "r");
    if (!p) return;
    if (!fgets(out, (int)n, p)) out[0] = 0;
    out[strcspn(out, "\n")] = 0;
    pclose(p);
}

/* config.json's machine record names the CPU as /proc/cpuinfo does (read here by grep, not by
 * the library's parser): the model name, x86's family and model numbers (a bare "AMD EPYC" under
 * KVM told two EPYC generations apart only through the device line), the vector extensions, and
 * the CPUs the process may use. */
static void machine_record(void) {
    make_run("machine", NULL, 1, 0, 0, NULL);
    char p[2300], err[1024];
    char *text = daoe_read_file(daoe_run_path(p, sizeof p, dir_of("machine"), DAOE_RUN_CONFIG), NULL, err, sizeof err);
    CHECK(text != NULL, "machine: %s", err);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "machine");
    const char *cpu = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "cpu"));
    const char *simd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "cpu_simd"));
    const char *device = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "device"));
    CHECK(cpu && simd && device, "machine: cpu, cpu_simd or device missing from config.json");
    char model[256], family[64], number[64], want[400];
    shell_line("grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: *//'", model, sizeof model);
    shell_line("grep -m1 '^cpu family' /proc/cpuinfo | sed 's/^[^:]*: *//'", family, sizeof family);
    shell_line("grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | sed 's/^[^:]*: *//'", number, sizeof number);
    if (family[0] && number[0]) snprintf(want, sizeof want, "%s (family %s model %s)", model, family, number);
    else snprintf(want, sizeof want, "%s", model[0] ? model : "unknown CPU");
    if (cpu && device) {
        CHECK(!strcmp(cpu, want), "machine.cpu '%s', /proc/cpuinfo says '%s'", cpu, want);
        char dev[500];
        snprintf(dev, sizeof dev, "cpu: %s, 1 threads,", want);
        CHECK(!strncmp(device, dev, strlen(dev)), "machine.device '%s' does not begin '%s'", device, dev);
    }
    if (family[0]) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(m, "cpu_family");
        CHECK(cJSON_IsNumber(f) && f->valueint == atoi(family), "machine.cpu_family: want %s", family);
    }
    static const char *ext[] = {"avx2", "avx512f", "avx512_bf16", "amx_tile"};
    for (size_t i = 0; simd && i < sizeof ext / sizeof *ext; i++) {
        char cmd[200], has[8];
        snprintf(cmd, sizeof cmd, "grep -m1 '^flags' /proc/cpuinfo | grep -cw %s", ext[i]);
        shell_line(cmd, has, sizeof has);
        char padded[200];
        snprintf(padded, sizeof padded, " %s ", simd);
        char word[40];
        snprintf(word, sizeof word, " %s ", ext[i]);
        CHECK((strstr(padded, word) != NULL) == (atoi(has) > 0), "machine.cpu_simd '%s': %s %s in /proc/cpuinfo's flags",
              simd, ext[i], atoi(has) > 0 ? "is" : "is not");
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(m, "cores_usable");
    CHECK(cJSON_IsNumber(u) && u->valueint == daoe_cpus_usable(), "machine.cores_usable: want %d", daoe_cpus_usable());
    cJSON_Delete(o);
    free(text);
}

int main(int argc, char **argv) {
    snprintf(g_root, sizeof g_root, "%s", argc > 1 ? argv[1] : "t_run_folder");
    char err[1024];
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    if (system(cmd) != 0) return 1;
    if (daoe_mkdir_p(g_root, err, sizeof err) != 0) {
        printf("%s\n", err);
        return 1;
    }
    daoe_config_defaults(&g_cfg);
    if (daoe_config_from_flags(&g_cfg, "--optimizer daoe --width 4 --batch 8 --train-subset 64 --val 0 --epochs 3 "
                                       "--cpu-conv im2col --threads 1", err, sizeof err) != 0) {
        printf("config: %s\n", err);
        return 1;
    }
    g_s = daoe_session_create(&g_cfg, NULL, err, sizeof err);
    if (!g_s) {
        printf("session: %s\n", err);
        return 1;
    }
    states();
    checkpoint_log();
    clear();
    fingerprint();
    switches();
    ntrain();
    machine_record();
    daoe_session_free(g_s);
    return test_result("test_run_folder");
}
