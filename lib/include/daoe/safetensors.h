/* safetensors files: 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the
 * raw little-endian tensor bytes. Reader checks every field it relies on. */
#ifndef DAOE_SAFETENSORS_H
#define DAOE_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;
    const char *dtype; /* "F32", "I64", "U8" */
    int ndim;
    int64_t shape[4];
    const void *data;
} daoe_st_tensor;

/* meta: NULL-terminated list of key, value string pairs (may be NULL). Atomic. */
int daoe_st_write(const char *path, const daoe_st_tensor *t, int n, const char *const *meta,
                  char *err, size_t errlen);

typedef struct daoe_st_file daoe_st_file;
daoe_st_file *daoe_st_open(const char *path, char *err, size_t errlen);
void daoe_st_close(daoe_st_file *f);
int daoe_st_count(const daoe_st_file *f);          /* tensors, metadata excluded */
const char *daoe_st_name(const daoe_st_file *f, int i);
const char *daoe_st_meta(const daoe_st_file *f, const char *key); /* NULL if absent */
/* Returns the tensor's bytes after checking dtype and shape, or NULL with a
 * message ("FILE: tensor NAME: shape [..] expected [..]"). */
const void *daoe_st_get(const daoe_st_file *f, const char *name, const char *dtype, int ndim,
                        const int64_t *shape, char *err, size_t errlen);
/* Stored shape of a tensor: 0, or -1 if absent. */
int daoe_st_shape(const daoe_st_file *f, const char *name, int *ndim, int64_t shape[4]);
size_t daoe_dtype_size(const char *dtype);
/* The raw bytes after the header (every tensor's data, in file order). */
const void *daoe_st_data(const daoe_st_file *f, size_t *len);
#endif
