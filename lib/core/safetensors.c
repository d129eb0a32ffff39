/* safetensors reader and writer (cJSON for the header). The reader treats
 * the file as hostile; the writer lays tensors out back to back. */
#include "daoe/safetensors.h"
#include "daoe/util.h"
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t daoe_dtype_size(const char *d) {
    if (!strcmp(d, "F32") || !strcmp(d, "I32") || !strcmp(d, "U32")) return 4;
    if (!strcmp(d, "I64") || !strcmp(d, "F64") || !strcmp(d, "U64")) return 8;
    if (!strcmp(d, "U8") || !strcmp(d, "I8") || !strcmp(d, "BOOL")) return 1;
    if (!strcmp(d, "BF16") || !strcmp(d, "F16") || !strcmp(d, "I16")) return 2;
    return 0;
}

static size_t numel(int ndim, const int64_t *shape) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

int daoe_st_write(const char *path, const daoe_st_tensor *t, int n, const char *const *meta,
                  char *err, size_t errlen) {
    cJSON *h = cJSON_CreateObject();
    if (meta && meta[0]) {
        cJSON *m = cJSON_AddObjectToObject(h, "__metadata__");
        for (int i = 0; meta[i] && meta[i + 1]; i += 2) cJSON_AddStringToObject(m, meta[i], meta[i + 1]);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(h, t[i].name);
        cJSON_AddStringToObject(e, "dtype", t[i].dtype);
        cJSON *s = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t[i].ndim; d++) cJSON_AddItemToArray(s, cJSON_CreateNumber((double)t[i].shape[d]));
        size_t nb = numel(t[i].ndim, t[i].shape) * daoe_dtype_size(t[i].dtype);
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + nb)));
        off += nb;
    }
    char *js = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    size_t hl = strlen(js), hpad = (hl + 7) & ~(size_t)7;
    size_t total = 8 + hpad + off;
    uint8_t *buf = daoe_xmalloc(total);
    uint64_t hl64 = hpad;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(hl64 >> (8 * i));
    memcpy(buf + 8, js, hl);
    memset(buf + 8 + hl, ' ', hpad - hl);
    free(js);
    size_t pos = 8 + hpad;
    for (int i = 0; i < n; i++) {
        size_t nb = numel(t[i].ndim, t[i].shape) * daoe_dtype_size(t[i].dtype);
        if (nb) memcpy(buf + pos, t[i].data, nb);
        pos += nb;
    }
    int rc = daoe_write_file_atomic(path, buf, total, err, errlen);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ reader
 * Every byte of the file is untrusted: the header length, the JSON, each
 * dtype, shape and offset. Each tensor is checked once here (integers in
 * range, no overflow, its bytes inside the file, no two tensors sharing a
 * byte, no byte belonging to none, no name twice), so the accessors below
 * only look entries up. Errors are one line naming the file, the tensor and
 * the problem. */
#define ST_MAX_HEADER 100000000u /* as the reference implementation */
#define ST_MAX_INT 9007199254740992.0 /* 2^53: every integer below is exact in a JSON double */

typedef struct {
    const char *name;
    const char *dtype;
    int ndim;
    int64_t shape[DAOE_ST_MAX_DIMS];
    size_t begin, end; /* byte range in the data section */
    void *aligned;     /* copy made by daoe_st_get when the bytes are misaligned for the dtype */
} st_entry;

struct daoe_st_file {
    char *path;
    uint8_t *buf; /* owned file bytes, or NULL for daoe_st_open_mem */
    cJSON *header;
    const uint8_t *data;
    size_t data_len;
    int n;
    st_entry *ent;
};

void daoe_st_close(daoe_st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) free(f->ent[i].aligned);
    cJSON_Delete(f->header);
    free(f->buf);
    free(f->ent);
    free(f->path);
    free(f);
}

const char *daoe_st_printable(const char *s, char out[DAOE_ST_PRINTABLE]) {
    size_t i = 0;
    for (; s[i] && i < 64; i++) out[i] = (s[i] >= 32 && s[i] < 127) ? s[i] : '?';
    if (s[i]) out[i++] = '.', out[i++] = '.', out[i++] = '.';
    out[i] = 0;
    return out;
}

/* a JSON number that is an integer in [0, 2^53] */
static int json_count(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= ST_MAX_INT) || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int check_entry(daoe_st_file *f, cJSON *e, st_entry *t, char *err, size_t errlen) {
    char nm[DAOE_ST_PRINTABLE];
    daoe_st_printable(e->string, nm);
    if (!cJSON_IsObject(e)) {
        daoe_errf(err, errlen, "%s: tensor %s: header entry is not a JSON object", f->path, nm);
        return -1;
    }
    cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) {
        daoe_errf(err, errlen, "%s: tensor %s: dtype missing or not a string", f->path, nm);
        return -1;
    }
    size_t es = daoe_dtype_size(dt->valuestring);
    if (!es) {
        char d[DAOE_ST_PRINTABLE];
        daoe_errf(err, errlen, "%s: tensor %s: unknown dtype \"%s\"", f->path, nm, daoe_st_printable(dt->valuestring, d));
        return -1;
    }
    if (!cJSON_IsArray(sh)) {
        daoe_errf(err, errlen, "%s: tensor %s: shape missing or not an array", f->path, nm);
        return -1;
    }
    int nd = cJSON_GetArraySize(sh);
    if (nd > DAOE_ST_MAX_DIMS) {
        daoe_errf(err, errlen, "%s: tensor %s: shape has %d dimensions (at most %d)", f->path, nm, nd,
                  DAOE_ST_MAX_DIMS);
        return -1;
    }
    uint64_t nbytes = es, v;
    int k = 0, overflow = 0;
    for (cJSON *d = sh->child; d; d = d->next, k++) {
        if (!json_count(d, &v)) {
            daoe_errf(err, errlen, "%s: tensor %s: shape[%d] is not an integer in [0, 2^53]", f->path, nm, k);
            return -1;
        }
        t->shape[k] = (int64_t)v;
        overflow |= __builtin_mul_overflow(nbytes, v, &nbytes);
    }
    if (overflow || nbytes > SIZE_MAX) {
        daoe_errf(err, errlen, "%s: tensor %s: shape overflows (more than 2^64 bytes)", f->path, nm);
        return -1;
    }
    uint64_t a, b;
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2 || !json_count(of->child, &a) ||
        !json_count(of->child->next, &b)) {
        daoe_errf(err, errlen, "%s: tensor %s: data_offsets missing or not two integers in [0, 2^53]", f->path, nm);
        return -1;
    }
    if (b < a) {
        daoe_errf(err, errlen, "%s: tensor %s: data_offsets [%llu, %llu) end before they begin", f->path, nm,
                  (unsigned long long)a, (unsigned long long)b);
        return -1;
    }
    if (b > f->data_len) {
        daoe_errf(err, errlen, "%s: tensor %s: data_offsets [%llu, %llu) past the end of the %zu data bytes "
                  "(truncated file?)", f->path, nm, (unsigned long long)a, (unsigned long long)b, f->data_len);
        return -1;
    }
    if (b - a != nbytes) {
        daoe_errf(err, errlen, "%s: tensor %s: data_offsets [%llu, %llu) hold %llu bytes; its shape and dtype %s "
                  "need %llu", f->path, nm, (unsigned long long)a, (unsigned long long)b,
                  (unsigned long long)(b - a), dt->valuestring, (unsigned long long)nbytes);
        return -1;
    }
    t->name = e->string;
    t->dtype = dt->valuestring;
    t->ndim = nd;
    t->begin = (size_t)a;
    t->end = (size_t)b;
    return 0;
}

static int by_name(const void *x, const void *y) {
    return strcmp((*(const st_entry *const *)x)->name, (*(const st_entry *const *)y)->name);
}
static int by_offset(const void *x, const void *y) {
    const st_entry *a = *(const st_entry *const *)x, *b = *(const st_entry *const *)y;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    return a->end < b->end ? -1 : a->end > b->end;
}

/* no name twice; the tensors tile the data section exactly */
static int check_layout(daoe_st_file *f, char *err, size_t errlen) {
    if (!f->n) {
        if (f->data_len) {
            daoe_errf(err, errlen, "%s: %zu data bytes but no tensor in the header", f->path, f->data_len);
            return -1;
        }
        return 0;
    }
    st_entry **s = daoe_xmalloc(sizeof *s * (size_t)f->n);
    char n1[DAOE_ST_PRINTABLE], n2[DAOE_ST_PRINTABLE];
    int rc = -1;
    for (int i = 0; i < f->n; i++) s[i] = &f->ent[i];
    qsort(s, (size_t)f->n, sizeof *s, by_name);
    for (int i = 1; i < f->n; i++)
        if (!strcmp(s[i - 1]->name, s[i]->name)) {
            daoe_errf(err, errlen, "%s: tensor %s appears twice in the header", f->path, daoe_st_printable(s[i]->name, n1));
            goto done;
        }
    qsort(s, (size_t)f->n, sizeof *s, by_offset);
    size_t pos = 0;
    for (int i = 0; i < f->n; i++) {
        if (s[i]->begin < pos) {
            daoe_errf(err, errlen, "%s: tensors %s [%zu, %zu) and %s [%zu, %zu) overlap", f->path,
                      daoe_st_printable(s[i - 1]->name, n1), s[i - 1]->begin, s[i - 1]->end, daoe_st_printable(s[i]->name, n2),
                      s[i]->begin, s[i]->end);
            goto done;
        }
        if (s[i]->begin > pos) {
            daoe_errf(err, errlen, "%s: data bytes [%zu, %zu) before tensor %s belong to no tensor", f->path, pos,
                      s[i]->begin, daoe_st_printable(s[i]->name, n1));
            goto done;
        }
        pos = s[i]->end;
    }
    if (pos != f->data_len) {
        daoe_errf(err, errlen, "%s: data bytes [%zu, %zu) after the last tensor belong to no tensor", f->path, pos,
                  f->data_len);
        goto done;
    }
    rc = 0;
done:
    free(s);
    return rc;
}

static daoe_st_file *st_parse(daoe_st_file *f, const uint8_t *bytes, size_t len, char *err, size_t errlen) {
    const char *path = f->path;
    if (len < 8) {
        daoe_errf(err, errlen, "%s: not a safetensors file: %zu bytes, fewer than the 8-byte header length", path,
                  len);
        goto fail;
    }
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)bytes[i] << (8 * i);
    if (hl == 0 || hl > len - 8 || hl > ST_MAX_HEADER) {
        if (hl == 0) daoe_errf(err, errlen, "%s: malformed safetensors header: length 0", path);
        else if (hl > len - 8)
            daoe_errf(err, errlen, "%s: malformed safetensors header: length %llu past the end of the %zu-byte file",
                      path, (unsigned long long)hl, len);
        else
            daoe_errf(err, errlen, "%s: malformed safetensors header: length %llu above the 100 MB limit", path,
                      (unsigned long long)hl);
        goto fail;
    }
    const char *js = (const char *)bytes + 8, *end = NULL;
    f->header = cJSON_ParseWithLengthOpts(js, (size_t)hl, &end, 0);
    if (!f->header) {
        daoe_errf(err, errlen, "%s: malformed safetensors header: not valid JSON (near byte %td of %llu)", path,
                  end ? end - js : (ptrdiff_t)0, (unsigned long long)hl);
        goto fail;
    }
    /* after the JSON value only padding (spaces, as writers pad to 8 bytes) */
    for (const char *p = end; p < js + hl; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != 0) {
            daoe_errf(err, errlen, "%s: malformed safetensors header: bytes after its JSON object (at byte %td)", path, p - js);
            goto fail;
        }
    if (!cJSON_IsObject(f->header)) {
        daoe_errf(err, errlen, "%s: malformed safetensors header: not a JSON object", path);
        goto fail;
    }
    f->data = bytes + 8 + hl;
    f->data_len = len - 8 - (size_t)hl;
    int cnt = 0;
    for (cJSON *e = f->header->child; e; e = e->next) cnt++;
    f->ent = daoe_xcalloc((size_t)cnt + 1, sizeof *f->ent);
    for (cJSON *e = f->header->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            int ok = cJSON_IsObject(e);
            for (cJSON *m = ok ? e->child : NULL; m && ok; m = m->next) ok = cJSON_IsString(m);
            if (!ok) {
                daoe_errf(err, errlen, "%s: __metadata__ is not an object of strings", path);
                goto fail;
            }
            continue;
        }
        if (check_entry(f, e, &f->ent[f->n], err, errlen) != 0) goto fail;
        f->n++;
    }
    if (check_layout(f, err, errlen) != 0) goto fail;
    return f;
fail:
    daoe_st_close(f);
    return NULL;
}

daoe_st_file *daoe_st_open(const char *path, char *err, size_t errlen) {
    size_t len;
    uint8_t *buf = daoe_read_file(path, &len, err, errlen);
    if (!buf) return NULL;
    daoe_st_file *f = daoe_xcalloc(1, sizeof *f);
    f->path = daoe_xstrdup(path);
    f->buf = buf;
    return st_parse(f, buf, len, err, errlen);
}

daoe_st_file *daoe_st_open_mem(const void *bytes, size_t len, const char *name, char *err, size_t errlen) {
    daoe_st_file *f = daoe_xcalloc(1, sizeof *f);
    f->path = daoe_xstrdup(name);
    return st_parse(f, bytes, len, err, errlen);
}

int daoe_st_count(const daoe_st_file *f) { return f->n; }
const char *daoe_st_name(const daoe_st_file *f, int i) { return f->ent[i].name; }

const char *daoe_st_meta(const daoe_st_file *f, const char *key) {
    cJSON *m = cJSON_GetObjectItemCaseSensitive(f->header, "__metadata__");
    cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static st_entry *find(const daoe_st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->ent[i].name, name)) return &f->ent[i];
    return NULL;
}

static void fmt_shape(char *out, size_t n, int ndim, const int64_t *shape) {
    size_t p = (size_t)snprintf(out, n, "[");
    for (int i = 0; i < ndim && p < n; i++) p += (size_t)snprintf(out + p, n - p, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (p < n) snprintf(out + p, n - p, "]");
}

const void *daoe_st_get(const daoe_st_file *f, const char *name, const char *dtype, int ndim,
                        const int64_t *shape, char *err, size_t errlen) {
    /* the name may come from the file (daoe_st_name): printed safely */
    char nm[DAOE_ST_PRINTABLE];
    daoe_st_printable(name, nm);
    st_entry *e = find(f, name);
    if (!e) {
        daoe_errf(err, errlen, "%s: tensor %s missing", f->path, nm);
        return NULL;
    }
    if (strcmp(e->dtype, dtype)) {
        char d[DAOE_ST_PRINTABLE], want[DAOE_ST_PRINTABLE];
        daoe_errf(err, errlen, "%s: tensor %s: dtype %s, expected %s", f->path, nm, daoe_st_printable(e->dtype, d),
                  daoe_st_printable(dtype, want));
        return NULL;
    }
    int same = e->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = e->shape[i] == shape[i];
    if (!same) {
        char a[256], b[256];
        fmt_shape(a, sizeof a, e->ndim, e->shape);
        fmt_shape(b, sizeof b, ndim, shape);
        daoe_errf(err, errlen, "%s: tensor %s: shape %s, expected %s", f->path, nm, a, b);
        return NULL;
    }
    const uint8_t *p = f->data + e->begin;
    size_t es = daoe_dtype_size(e->dtype);
    if ((uintptr_t)p % es == 0) return p;
    /* the format does not align tensors (a U8 tensor of odd length moves the
     * next one): callers get bytes they may read as the dtype */
    if (!e->aligned) {
        e->aligned = daoe_xmalloc(e->end - e->begin);
        memcpy(e->aligned, p, e->end - e->begin);
    }
    return e->aligned;
}

int daoe_st_shape(const daoe_st_file *f, const char *name, int *ndim, int64_t shape[4]) {
    const st_entry *e = find(f, name);
    if (!e || e->ndim > 4) return -1;
    memcpy(shape, e->shape, sizeof(int64_t) * (size_t)e->ndim);
    *ndim = e->ndim;
    return 0;
}

const void *daoe_st_data(const daoe_st_file *f, size_t *len) {
    *len = f->data_len;
    return f->data;
}
