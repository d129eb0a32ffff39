/* safetensors reader and writer (cJSON for the header). */
#include "daoe/safetensors.h"
#include "daoe/util.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct daoe_st_file {
    char *path;
    uint8_t *buf;
    size_t len;
    cJSON *header;
    const uint8_t *data;
    size_t data_len;
    int n;
    char **names;
};

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

void daoe_st_close(daoe_st_file *f) {
    if (!f) return;
    cJSON_Delete(f->header);
    free(f->buf);
    free(f->names);
    free(f->path);
    free(f);
}

daoe_st_file *daoe_st_open(const char *path, char *err, size_t errlen) {
    daoe_st_file *f = daoe_xcalloc(1, sizeof *f);
    f->path = daoe_xstrdup(path);
    f->buf = daoe_read_file(path, &f->len, err, errlen);
    if (!f->buf) goto fail;
    if (f->len < 8) {
        daoe_errf(err, errlen, "%s: not a safetensors file (%zu bytes)", path, f->len);
        goto fail;
    }
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)f->buf[i] << (8 * i);
    if (hl == 0 || hl > f->len - 8) {
        daoe_errf(err, errlen, "%s: malformed safetensors header length %llu (file %zu bytes)", path,
                  (unsigned long long)hl, f->len);
        goto fail;
    }
    f->header = cJSON_ParseWithLength((const char *)f->buf + 8, (size_t)hl);
    if (!f->header || !cJSON_IsObject(f->header)) {
        daoe_errf(err, errlen, "%s: malformed safetensors header (not a JSON object)", path);
        goto fail;
    }
    f->data = f->buf + 8 + hl;
    f->data_len = f->len - 8 - hl;
    int cnt = 0;
    for (cJSON *e = f->header->child; e; e = e->next) cnt++;
    f->names = daoe_xcalloc((size_t)cnt + 1, sizeof(char *));
    for (cJSON *e = f->header->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) continue;
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of) ||
            cJSON_GetArraySize(of) != 2 || !daoe_dtype_size(dt->valuestring)) {
            daoe_errf(err, errlen, "%s: tensor %s: malformed header entry", path, e->string);
            goto fail;
        }
        double a = cJSON_GetArrayItem(of, 0)->valuedouble, b = cJSON_GetArrayItem(of, 1)->valuedouble;
        size_t ne = 1;
        for (cJSON *d = sh->child; d; d = d->next) {
            if (!cJSON_IsNumber(d) || d->valuedouble < 0) {
                daoe_errf(err, errlen, "%s: tensor %s: malformed shape", path, e->string);
                goto fail;
            }
            ne *= (size_t)d->valuedouble;
        }
        if (a < 0 || b < a || b > (double)f->data_len ||
            (size_t)(b - a) != ne * daoe_dtype_size(dt->valuestring)) {
            daoe_errf(err, errlen, "%s: tensor %s: data offsets [%.0f, %.0f) inconsistent with shape "
                      "or outside the %zu data bytes (truncated file?)", path, e->string, a, b, f->data_len);
            goto fail;
        }
        f->names[f->n++] = e->string;
    }
    return f;
fail:
    daoe_st_close(f);
    return NULL;
}

int daoe_st_count(const daoe_st_file *f) { return f->n; }
const char *daoe_st_name(const daoe_st_file *f, int i) { return f->names[i]; }

const char *daoe_st_meta(const daoe_st_file *f, const char *key) {
    cJSON *m = cJSON_GetObjectItemCaseSensitive(f->header, "__metadata__");
    cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void fmt_shape(char *out, size_t n, int ndim, const int64_t *shape) {
    size_t p = (size_t)snprintf(out, n, "[");
    for (int i = 0; i < ndim && p < n; i++) p += (size_t)snprintf(out + p, n - p, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (p < n) snprintf(out + p, n - p, "]");
}

const void *daoe_st_get(const daoe_st_file *f, const char *name, const char *dtype, int ndim,
                        const int64_t *shape, char *err, size_t errlen) {
    cJSON *e = cJSON_GetObjectItemCaseSensitive(f->header, name);
    if (!e || !strcmp(name, "__metadata__")) {
        daoe_errf(err, errlen, "%s: tensor %s missing", f->path, name);
        return NULL;
    }
    const char *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype")->valuestring;
    if (strcmp(dt, dtype)) {
        daoe_errf(err, errlen, "%s: tensor %s: dtype %s, expected %s", f->path, name, dt, dtype);
        return NULL;
    }
    cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    int64_t got[8];
    int gd = 0, same = cJSON_GetArraySize(sh) == ndim;
    for (cJSON *d = sh->child; d && gd < 8; d = d->next) got[gd++] = (int64_t)d->valuedouble;
    for (int i = 0; same && i < ndim; i++) same = got[i] == shape[i];
    if (!same) {
        char a[128], b[128];
        fmt_shape(a, sizeof a, gd, got);
        fmt_shape(b, sizeof b, ndim, shape);
        daoe_errf(err, errlen, "%s: tensor %s: shape %s, expected %s", f->path, name, a, b);
        return NULL;
    }
    double off = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "data_offsets"), 0)->valuedouble;
    return f->data + (size_t)off;
}

int daoe_st_shape(const daoe_st_file *f, const char *name, int *ndim, int64_t shape[4]) {
    cJSON *e = cJSON_GetObjectItemCaseSensitive(f->header, name);
    if (!e || !strcmp(name, "__metadata__")) return -1;
    cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    int n = 0;
    for (cJSON *d = sh->child; d; d = d->next, n++)
        if (n < 4) shape[n] = (int64_t)d->valuedouble;
    if (n > 4) return -1;
    *ndim = n;
    return 0;
}

const void *daoe_st_data(const daoe_st_file *f, size_t *len) {
    *len = f->data_len;
    return f->data;
}
