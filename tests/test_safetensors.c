/* Hostile safetensors files: each malformed header, offset, shape and dtype
 * must be rejected by daoe_st_open with one line naming the problem (checked
 * by substring), never a crash; a network checkpoint with a tensor missing,
 * extra or of the wrong dtype is rejected by daoe_net_load by name. Also
 * checks that valid files (and misaligned tensors) read back exactly. */
#include "daoe/backend.h"
#include "daoe/net.h"
#include "daoe/safetensors.h"
#include "daoe/util.h"
#include "testutil.h"
#include <stdint.h>
#include <unistd.h>

static char g_dir[1024];

/* writes an 8-byte length (hl; the JSON's length for -1, 2^64-2 for -2), the JSON,
 * then ndata bytes 0, 1, 2, ... and returns the path */
static const char *make(const char *name, const char *json, long long hl, size_t ndata) {
    static char path[2048];
    snprintf(path, sizeof path, "%s/%s.safetensors", g_dir, name);
    size_t jl = strlen(json);
    uint64_t h = hl == -1 ? (uint64_t)jl : hl == -2 ? UINT64_MAX - 1 : (uint64_t)hl;
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 8; i++) fputc((int)((h >> (8 * i)) & 0xff), f);
    fwrite(json, 1, jl, f);
    for (size_t i = 0; i < ndata; i++) fputc((int)(i & 0xff), f);
    fclose(f);
    return path;
}

/* opens path, expects a rejection whose message contains want */
static void rejects(const char *what, const char *path, const char *want) {
    char err[1024] = "";
    daoe_st_file *f = daoe_st_open(path, err, sizeof err);
    CHECK(!f, "%s: accepted", what);
    daoe_st_close(f);
    CHECK(strstr(err, want) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err, want);
    CHECK(!strchr(err, '\n'), "%s: message spans lines: %s", what, err);
    if (!f) printf("  %-28s -> %s\n", what, err);
}

static void rejects_json(const char *what, const char *json, size_t ndata, const char *want) {
    rejects(what, make(what, json, -1, ndata), want);
}

#define T(name, body) "\"" name "\":{" body "}"

static void header_cases(void) {
    char path[2048];
    snprintf(path, sizeof path, "%s/short.safetensors", g_dir);
    FILE *f = fopen(path, "wb");
    fputs("abc", f);
    fclose(f);
    rejects("shorter than 8 bytes", path, "fewer than the 8-byte header length");
    rejects("header length 0", make("hl0", "{}", 0, 0), "malformed safetensors header: length 0");
    rejects("header length past the end", make("hlbig", "{}", 3, 0), "malformed safetensors header: length 3 past the end of the 10-byte file");
    rejects("header length 2^64-2", make("hlmax", "{}", -2 /* 2^64-2 */, 0), "length 18446744073709551614 past the end");
    snprintf(path, sizeof path, "%s", make("hl200m", "{}", 200000000, 0));
    f = fopen(path, "r+b");
    fseek(f, 200000000LL + 7, SEEK_SET); /* a sparse file long enough for the length */
    fputc(' ', f);
    fclose(f);
    rejects("header length over 100 MB", path, "above the 100 MB limit");
    unlink(path);
    rejects_json("JSON garbage", "{\"a\": [1, ", 0, "malformed safetensors header: not valid JSON");
    rejects_json("JSON binary", "\x01\x02\xff\xfe", 0, "malformed safetensors header: not valid JSON");
    rejects_json("JSON not an object", "[1, 2, 3]", 0, "malformed safetensors header: not a JSON object");
    rejects_json("bytes after the JSON", "{}xx", 0, "malformed safetensors header: bytes after its JSON object");
    rejects_json("metadata not strings", "{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ is not an object of strings");
    rejects_json("metadata an array", "{\"__metadata__\":[]}", 0, "__metadata__ is not an object of strings");
    rejects_json("data but no tensor", "{}", 4, "4 data bytes but no tensor");
}

static void entry_cases(void) {
    rejects_json("entry not an object", "{\"a\":3}", 0, "tensor a: header entry is not a JSON object");
    rejects_json("dtype missing", "{" T("a", "\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
                 "tensor a: dtype missing or not a string");
    rejects_json("dtype a number", "{" T("a", "\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
                 "tensor a: dtype missing");
    rejects_json("dtype unknown", "{" T("a", "\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
                 "tensor a: unknown dtype \"F33\"");
    rejects_json("shape missing", "{" T("a", "\"dtype\":\"F32\",\"data_offsets\":[0,4]") "}", 4,
                 "tensor a: shape missing or not an array");
    rejects_json("shape negative", "{" T("a", "\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]") "}", 4,
                 "tensor a: shape[0] is not an integer");
    rejects_json("shape fractional", "{" T("a", "\"dtype\":\"F32\",\"shape\":[1,1.5],\"data_offsets\":[0,4]") "}", 4,
                 "tensor a: shape[1] is not an integer");
    rejects_json("shape a string", "{" T("a", "\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]") "}", 4,
                 "tensor a: shape[0] is not an integer");
    rejects_json("shape 1e400", "{" T("a", "\"dtype\":\"F32\",\"shape\":[1e400],\"data_offsets\":[0,4]") "}", 4,
                 "tensor a: shape[0] is not an integer");
    rejects_json("shape 9 dimensions",
                 "{" T("a", "\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]") "}", 4,
                 "tensor a: shape has 9 dimensions (at most 8)");
    rejects_json("shape overflow",
                 "{" T("a", "\"dtype\":\"F32\",\"shape\":[9007199254740992,9007199254740992],"
                            "\"data_offsets\":[0,0]") "}", 0,
                 "tensor a: shape overflows");
    /* 2^62 elements of 4 bytes: 2^64 bytes, one past the largest size */
    rejects_json("shape overflow by dtype",
                 "{" T("a", "\"dtype\":\"F32\",\"shape\":[4294967296,1073741824],\"data_offsets\":[0,0]") "}", 0,
                 "tensor a: shape overflows");
    rejects_json("offsets missing", "{" T("a", "\"dtype\":\"F32\",\"shape\":[1]") "}", 4,
                 "tensor a: data_offsets missing or not two integers");
    rejects_json("offsets three", "{" T("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]") "}", 4,
                 "tensor a: data_offsets missing or not two integers");
    rejects_json("offsets negative", "{" T("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]") "}", 4,
                 "tensor a: data_offsets missing or not two integers");
    rejects_json("offsets above 2^53",
                 "{" T("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[18446744073709551612,18446744073709551616]") "}",
                 4, "tensor a: data_offsets missing or not two integers");
    rejects_json("offsets reversed", "{" T("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]") "}", 4,
                 "tensor a: data_offsets [4, 0) end before they begin");
    rejects_json("offsets past the end", "{" T("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]") "}", 4,
                 "tensor a: data_offsets [0, 8) past the end of the 4 data bytes");
    rejects_json("size does not match dtype", "{" T("a", "\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]") "}", 8,
                 "tensor a: data_offsets [0, 8) hold 8 bytes; its shape and dtype F64 need 16");
    rejects_json("overlapping tensors",
                 "{" T("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]") ","
                     T("b", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]") "}", 12,
                 "tensors a [0, 8) and b [4, 12) overlap");
    rejects_json("same bytes twice",
                 "{" T("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") ","
                     T("b", "\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]") "}", 4,
                 "overlap");
    rejects_json("hole between tensors",
                 "{" T("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") ","
                     T("b", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]") "}", 12,
                 "data bytes [4, 8) before tensor b belong to no tensor");
    rejects_json("bytes after the last tensor", "{" T("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") "}", 9,
                 "data bytes [4, 9) after the last tensor belong to no tensor");
    rejects_json("name twice",
                 "{" T("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") ","
                     T("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]") "}", 8,
                 "tensor a appears twice in the header");
    rejects_json("control bytes in a name", "{\"x\\ny\\u0001\":3}", 0, "tensor x?y?: header entry");
}

/* a valid file reads back; dtype, shape and name errors in daoe_st_get */
static void valid_cases(void) {
    char path[2048], err[1024];
    snprintf(path, sizeof path, "%s/valid.safetensors", g_dir);
    uint8_t u8[3] = {7, 8, 9};
    float f32[2] = {1.5f, -2.25f};
    double f64[3] = {1e300, -0.0, 3.0};
    daoe_st_tensor t[3] = {{"bytes", "U8", 1, {3}, u8}, {"floats", "F32", 2, {1, 2}, f32}, {"scalar3", "F64", 1, {3}, f64}};
    const char *meta[] = {"k", "v", NULL};
    CHECK(daoe_st_write(path, t, 3, meta, err, sizeof err) == 0, "write: %s", err);
    daoe_st_file *f = daoe_st_open(path, err, sizeof err);
    CHECK(f != NULL, "valid file rejected: %s", err);
    if (!f) return;
    CHECK(daoe_st_count(f) == 3, "count %d", daoe_st_count(f));
    CHECK(daoe_st_meta(f, "k") && !strcmp(daoe_st_meta(f, "k"), "v"), "metadata");
    CHECK(!daoe_st_meta(f, "nope"), "absent metadata");
    int64_t s2[2] = {1, 2}, s1[1] = {3};
    const float *pf = daoe_st_get(f, "floats", "F32", 2, s2, err, sizeof err);
    /* floats follow 3 bytes of U8: misaligned in the file, aligned when returned */
    CHECK(pf && (uintptr_t)pf % 4 == 0 && pf[0] == 1.5f && pf[1] == -2.25f, "misaligned F32 read back");
    const double *pd = daoe_st_get(f, "scalar3", "F64", 1, s1, err, sizeof err);
    CHECK(pd && (uintptr_t)pd % 8 == 0 && !memcmp(pd, f64, sizeof f64), "F64 read back");
    CHECK(!daoe_st_get(f, "floats", "F64", 2, s2, err, sizeof err) &&
          strstr(err, "tensor floats: dtype F32, expected F64"), "wrong dtype: %s", err);
    int64_t bad[2] = {2, 1};
    CHECK(!daoe_st_get(f, "floats", "F32", 2, bad, err, sizeof err) &&
          strstr(err, "tensor floats: shape [1, 2], expected [2, 1]"), "wrong shape: %s", err);
    CHECK(!daoe_st_get(f, "floats", "F32", 1, bad, err, sizeof err) && strstr(err, "expected [2]"),
          "wrong rank: %s", err);
    CHECK(!daoe_st_get(f, "nope", "F32", 1, bad, err, sizeof err) && strstr(err, "tensor nope missing"),
          "missing: %s", err);
    CHECK(!daoe_st_get(f, "__metadata__", "F32", 1, bad, err, sizeof err), "metadata as a tensor");
    int nd;
    int64_t sh[4];
    CHECK(daoe_st_shape(f, "floats", &nd, sh) == 0 && nd == 2 && sh[0] == 1 && sh[1] == 2, "shape");
    CHECK(daoe_st_shape(f, "nope", &nd, sh) == -1, "shape of a missing tensor");
    daoe_st_close(f);
    /* the same bytes from memory */
    size_t len;
    void *bytes = daoe_read_file(path, &len, err, sizeof err);
    f = daoe_st_open_mem(bytes, len, "mem", err, sizeof err);
    CHECK(f && daoe_st_count(f) == 3, "open_mem: %s", err);
    daoe_st_close(f);
    /* every truncation of a valid file is rejected */
    int accepted = 0;
    for (size_t cut = 0; cut < len; cut++) {
        f = daoe_st_open_mem(bytes, cut, "cut", err, sizeof err);
        accepted += f != NULL;
        daoe_st_close(f);
    }
    CHECK(!accepted, "%d truncations accepted", accepted);
    free(bytes);
    rejects("a directory", g_dir, "not a regular file");
    snprintf(path, sizeof path, "%s/does-not-exist.safetensors", g_dir);
    rejects("a missing file", path, "cannot open");
    /* zero-size tensors and an empty header object are valid */
    const char *ok = make("empty_tensor", "{" T("z", "\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[0,0]") "}", -1, 0);
    f = daoe_st_open(ok, err, sizeof err);
    CHECK(f && daoe_st_count(f) == 1, "zero-size tensor rejected: %s", err);
    daoe_st_close(f);
    f = daoe_st_open(make("empty", "{}   ", -1, 0), err, sizeof err);
    CHECK(f && daoe_st_count(f) == 0, "empty header rejected: %s", err);
    daoe_st_close(f);
}

/* network checkpoints: missing, extra and wrong-dtype tensors by name */
static void net_cases(void) {
    char err[1024], path[2048];
    daoe_net net;
    daoe_net_layout(&net, 4);
    float *p = daoe_xcalloc(net.nparams, sizeof(float)), *b = daoe_xcalloc(net.nbufs + 1, sizeof(float));
    int64_t nbt = 3;
    daoe_st_tensor *t = daoe_xcalloc((size_t)net.ntensors + 1, sizeof *t);
    int n = daoe_net_st_tensors(&net, p, b, &nbt, t);
    snprintf(path, sizeof path, "%s/net.safetensors", g_dir);
    CHECK(daoe_st_write(path, t, n, NULL, err, sizeof err) == 0, "%s", err);
    int64_t nbt2 = 0;
    CHECK(daoe_net_load(&net, path, p, b, &nbt2, err, sizeof err) == 0 && nbt2 == 3, "valid net: %s", err);
    float extra = 1;
    t[n] = (daoe_st_tensor){"head.extra\nline", "F32", 1, {1}, &extra};
    CHECK(daoe_st_write(path, t, n + 1, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(daoe_net_load(&net, path, p, b, &nbt2, err, sizeof err) != 0 && strstr(err, "unexpected tensor head.extra?line") && !strchr(err, '\n'),
          "extra tensor: %s", err);
    printf("  %-28s -> %s\n", "extra tensor", err);
    CHECK(daoe_st_write(path, t + 1, n - 1, NULL, err, sizeof err) == 0, "%s", err);
    char want[256];
    snprintf(want, sizeof want, "tensor %s missing", t[0].name);
    CHECK(daoe_net_load(&net, path, p, b, &nbt2, err, sizeof err) != 0 && strstr(err, want), "missing tensor: %s", err);
    printf("  %-28s -> %s\n", "missing tensor", err);
    t[0].dtype = "I32";
    CHECK(daoe_st_write(path, t, n, NULL, err, sizeof err) == 0, "%s", err);
    snprintf(want, sizeof want, "tensor %s: dtype I32, expected F32", t[0].name);
    CHECK(daoe_net_load(&net, path, p, b, &nbt2, err, sizeof err) != 0 && strstr(err, want), "wrong dtype: %s", err);
    printf("  %-28s -> %s\n", "wrong dtype", err);
    free(t);
    free(p);
    free(b);
    daoe_net_free(&net);
}

int main(int argc, char **argv) {
    char err[1024];
    snprintf(g_dir, sizeof g_dir, "%s", argc > 1 ? argv[1] : "t_safetensors");
    if (daoe_mkdir_p(g_dir, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("malformed safetensors files, each rejected:\n");
    header_cases();
    entry_cases();
    valid_cases();
    net_cases();
    return test_result("test_safetensors");
}
