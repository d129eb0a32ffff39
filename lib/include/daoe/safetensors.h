/* safetensors files: 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the
 * raw little-endian tensor bytes. The reader trusts nothing in the file: it
 * checks every field and that the tensors tile the data bytes exactly. */
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

#define DAOE_ST_MAX_DIMS 8

typedef struct daoe_st_file daoe_st_file;
/* NULL with a one-line message ("FILE: tensor NAME: problem") when the file
 * is malformed in any way. */
daoe_st_file *daoe_st_open(const char *path, char *err, size_t errlen);
/* The same from bytes in memory, which must outlive the handle; name is used
 * in messages. */
daoe_st_file *daoe_st_open_mem(const void *bytes, size_t len, const char *name, char *err, size_t errlen);
void daoe_st_close(daoe_st_file *f);
int daoe_st_count(const daoe_st_file *f);          /* tensors, metadata excluded */
const char *daoe_st_name(const daoe_st_file *f, int i);
const char *daoe_st_meta(const daoe_st_file *f, const char *key); /* NULL if absent */
/* Returns the tensor's bytes (aligned for its dtype) after checking dtype and
 * shape, or NULL with a message ("FILE: tensor NAME: shape [..] expected [..]"). */
const void *daoe_st_get(const daoe_st_file *f, const char *name, const char *dtype, int ndim,
                        const int64_t *shape, char *err, size_t errlen);
/* Stored shape of a tensor: 0, or -1 if absent or of more than 4 dimensions. */
int daoe_st_shape(const daoe_st_file *f, const char *name, int *ndim, int64_t shape[4]);
size_t daoe_dtype_size(const char *dtype);
/* A name read from a file, safe to print on one line: at most 64 characters
 * (then "..."), control and non-ASCII bytes as '?'. Returns out. */
#define DAOE_ST_PRINTABLE 72
const char *daoe_st_printable(const char *name, char out[DAOE_ST_PRINTABLE]);
/* The raw bytes after the header (every tensor's data, in file order). */
const void *daoe_st_data(const daoe_st_file *f, size_t *len);
#endif
