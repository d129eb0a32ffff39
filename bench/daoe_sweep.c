/* daoe-sweep: runs a benchmark profile (bench/profiles/NAME.json) as a set of
 * daoe-train runs, one folder per run under results/<profile>/.
 *
 * A profile expands to runs = settings x optimizers x seeds. Each run's
 * command line is: the profile's "train" block as --flags, --optimizer,
 * --seed, the tuned arguments (lr_from), the profile's optimizer_args and
 * the setting's args, in that order (daoe-train keeps the last value of a
 * repeated flag). A run is skipped when its folder shows a sound end
 * (daoe_run_probe: finished or diverged; diverged runs are retried only with
 * --retry-diverged); every other run is (re)started with --resume, so a
 * killed run continues from its checkpoint. Runs go N at a time (-j); CPU threads are split between the
 * jobs; with the cuda backend each job gets one GPU (CUDA_VISIBLE_DEVICES).
 * Failures and divergences are recorded and the sweep goes on.
 *
 * Each run folder gets sweep_run.json (id, group, arguments) beside the
 * trainer's files; a finished run whose recorded arguments differ from the
 * profile's is reported as stale and not reused. results/<profile>/sweep.json
 * records every run's status and each invocation's times; it is rewritten
 * only when something ran (so make sees no change after a no-op).
 *
 * With --engine slurm the runs go to a Slurm cluster instead, as one job
 * array per sweep (sweep_slurm.c); the run folders are the same.
 *
 * It does not compute statistics (daoe-stats) or draw figures (plots/).
 * This file holds the command line and main (parse, expand, schedule,
 * report); the rest is in sweep_*.c (see sweep.h). */
#define _GNU_SOURCE
#include "sweep.h"
#include "tool.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the command line into o; exits on --help and on a bad command line */
static void parse_flags(int argc, char **argv, sweep_opts_t *o) {
    memset(o, 0, sizeof *o);
    o->requeue_max = 3;
    o->poll = 10;
    const tool_flag flags[] = {
        {"-j|--jobs", TOOL_FLAG_INT, &o->jobs, 0, 4096, "N",
         "runs at a time (default: profile \"jobs\", else 1 on the CPU;\n"
         "with the cuda backend profile \"runs_per_gpu\" (default 1) per GPU)"},
        {"--threads", TOOL_FLAG_INT, &o->threads, 0, 1 << 16, "N",
         "CPU threads in all, split between the jobs (default: all cores)"},
        {"--results", TOOL_FLAG_STR, &o->results, 0, 0, "DIR", "results folder (default results/<profile name>)"},
        {"--data", TOOL_FLAG_STR, &o->data, 0, 0, "DIR", "CIFAR-10 folder (default $CIFAR10_DIR)"},
        {"--train", TOOL_FLAG_STR, &o->train, 0, 0, "PATH", "daoe-train binary (default: beside daoe-sweep)"},
        {"--base", TOOL_FLAG_STR, &o->base, 0, 0, "NAME",
         "use another base profile (ablation, tune); results then go to\n"
         "results/<profile>-<base> unless --results is given"},
        {"--lr-from", TOOL_FLAG_STR, &o->lr_from, 0, 0, "FILE", "tuned arguments to use instead of the profile's lr_from"},
        {"--untuned|--no-lr-from", TOOL_FLAG_SWITCH, &o->no_lr_from, 0, 0, NULL,
         "run a profile that names tuned rates (lr_from) with the trainer's\n"
         "default rates instead (recorded in sweep.json and each sweep_run.json);\n"
         "without it a missing lr_from file is refused"},
        {"--only", TOOL_FLAG_STR, &o->only, 0, 0, "SUBSTR", "only runs whose id contains SUBSTR"},
        {"--retry-diverged", TOOL_FLAG_SWITCH, &o->retry_diverged, 0, 0, NULL, "re-run runs recorded as diverged"},
        {"--rerun-stale", TOOL_FLAG_SWITCH, &o->rerun_stale, 0, 0, NULL,
         "re-run runs whose recorded arguments differ from the profile's"},
        {"-n|--dry-run", TOOL_FLAG_SWITCH, &o->dry_run, 0, 0, NULL, "list the runs, their state and arguments; run nothing"},
        {"--show", TOOL_FLAG_SWITCH, &o->show, 0, 0, NULL, "print the resolved profile (bases merged) and exit"},
        {"--get", TOOL_FLAG_STR, &o->get, 0, 0, "KEY", "print one key of the resolved profile (e.g. lr_from) and exit"},
        {"--engine", TOOL_FLAG_STR, &o->engine, 0, 0, "local|slurm",
         "run here (default) or submit one Slurm job array and follow it"},
        {NULL, TOOL_FLAG_TEXT, NULL, 0, 0, NULL,
         "\nwith --engine slurm (-j K: at most K tasks at a time; --threads N: each task's threads\n"
         "and --cpus-per-task; --dry-run prints the batch script and the sbatch line):"},
        {"--partition", TOOL_FLAG_STR, &o->partition, 0, 0, "P", "passed to sbatch"},
        {"--account", TOOL_FLAG_STR, &o->account, 0, 0, "A", "passed to sbatch"},
        {"--qos", TOOL_FLAG_STR, &o->qos, 0, 0, "Q", "passed to sbatch"},
        {"--sbatch-arg", TOOL_FLAG_LIST, &o->sbatch, 0, 0, "ARG",
         "one more sbatch option (repeatable; also $DAOE_SBATCH_ARGS, split on spaces)"},
        {"--mem", TOOL_FLAG_STR, &o->mem, 0, 0, "M", "memory per task (sbatch syntax; default: estimated)"},
        {"--time", TOOL_FLAG_STR, &o->time, 0, 0, "T", "time limit per task (sbatch syntax; default: estimated\n"
                                                       "from the profile's size)"},
        {"--requeue-max", TOOL_FLAG_INT, &o->requeue_max, 0, 1000, "N",
         "times a task requeues itself after the time-limit warning (default 3)"},
        {"--poll", TOOL_FLAG_DOUBLE, &o->poll, 0.1, 3600, "SECONDS",
         "how often to ask Slurm for the tasks' states (default 10)"},
    };
    const tool_cmdline c = {
        .head = "usage: daoe-sweep [options] PROFILE.json\n"
                "Runs every run of a benchmark profile with daoe-train into RESULTS/<run-id>/,\n"
                "skipping finished (and diverged) runs and resuming killed ones.\n\n",
        .notes = "exit status: 0 every run finished or diverged, 1 some run failed or is stale,\n"
                 "2 bad command line or profile, 130 interrupted (re-run to resume; with slurm the tasks go on).\n",
        .positional = &o->profile_path,
        .what = "profile"};
    const int nflags = (int)(sizeof flags / sizeof flags[0]);
    tool_parse(argc, argv, flags, nflags, &c);
    if (!o->profile_path) {
        tool_usage(stderr, flags, nflags, &c);
        exit(2);
    }
    if (!o->engine) o->engine = "local";
    if (strcmp(o->engine, "local") && strcmp(o->engine, "slurm"))
        tool_die("--engine: '%s' is neither local nor slurm", o->engine);
    int slurm = !strcmp(o->engine, "slurm");
    if (!slurm && (o->partition || o->account || o->qos || o->mem || o->time || o->sbatch.n))
        tool_die("--partition, --account, --qos, --mem, --time and --sbatch-arg need --engine slurm");
}

/* --get KEY (for scripts such as Makefile.artifact: strings raw, other values
 * as JSON, absent: nothing) or --show (the whole resolved profile) */
static int print_profile(const cJSON *P, const sweep_opts_t *o) {
    const cJSON *v = o->get ? cJSON_GetObjectItemCaseSensitive(P, o->get) : P;
    if (o->get && cJSON_IsString(v)) printf("%s\n", v->valuestring);
    else if (v && !cJSON_IsNull(v)) {
        char *s = o->get ? cJSON_PrintUnformatted(v) : cJSON_Print(v);
        printf("%s\n", s);
        free(s);
    }
    return 0;
}

/* the results folder, the data folder and the trainer, from the flags or their defaults */
static void find_paths(sweep_opts_t *o, const char *name) {
    static char results_buf[PATH_MAX], train_buf[PATH_MAX];
    if (!o->results) {
        /* another base is another experiment: keep it apart */
        if (o->base) snprintf(results_buf, sizeof results_buf, "results/%s-%s", name, o->base);
        else snprintf(results_buf, sizeof results_buf, "results/%s", name);
        o->results = results_buf;
    }
    if (!o->data) o->data = getenv("CIFAR10_DIR");
    /* before anything runs or is submitted (a dry run too: it shows the task lines) */
    if (!o->data || !o->data[0]) tool_die("no data folder: pass --data DIR or set CIFAR10_DIR");
    char probe[PATH_MAX];
    snprintf(probe, sizeof probe, "%s/test_batch.bin", o->data);
    if (access(probe, R_OK) != 0)
        tool_die("%s: not a CIFAR-10 folder (no readable test_batch.bin: %s); pass --data DIR or set CIFAR10_DIR", o->data,
                 strerror(errno));
    if (!o->train) {
        ssize_t n = readlink("/proc/self/exe", train_buf, sizeof train_buf - 32);
        if (n <= 0) tool_die("cannot find daoe-train: pass --train PATH");
        train_buf[n] = 0;
        char *slash = strrchr(train_buf, '/');
        snprintf(slash + 1, 16, "daoe-train");
        o->train = train_buf;
    }
    if (access(o->train, X_OK) != 0 && !o->dry_run)
        tool_die("%s: not an executable (build it, or pass --train PATH)", o->train);
}

int main(int argc, char **argv) {
    /* an array task of the slurm engine (the batch script runs it) */
    if (argc > 1 && !strcmp(argv[1], "--slurm-task")) return sweep_slurm_task(argc, argv);
    sweep_opts_t o;
    parse_flags(argc, argv, &o);
    sweep_t S = {0};
    sweep_resolve_profile(&S, &o);
    if (o.get || o.show) return print_profile(S.profile, &o);
    find_paths(&o, S.name);
    if (!strcmp(o.engine, "slurm")) sweep_slurm_paths(&o);
    sweep_expand(&S);
    sweep_plan_jobs(&S);
    sweep_probe(&S);
    if (!strcmp(o.engine, "slurm")) return sweep_slurm(&S);
    if (o.dry_run) return sweep_dry_run(&S);
    if (sweep_begin(&S) == 0) return S.nstale ? 1 : 0;
    sweep_schedule(&S);
    return sweep_report(&S);
}
