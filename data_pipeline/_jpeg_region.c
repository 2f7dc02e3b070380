/* Region-of-interest JPEG decoding with libjpeg-turbo (optional accelerator).
 *
 * A clip crop needs a small part of each 1280x720 frame. libjpeg-turbo can skip the IDCT and
 * colour conversion of the rows above the region (jpeg_skip_scanlines), of the columns beside
 * it (jpeg_crop_scanline), and stop reading at the region's last row. The pixels it returns
 * are the full decode's pixels of that region (tests/test_data_region_decode.py checks this
 * against OpenCV's decoder).
 *
 * decode_region(data, x0, y0, x1, y1) -> (bgr bytes, x, y, width, height, image_w, image_h):
 * rows y0..y1-1 and at least columns x0..x1-1 (widened to the iMCU grid: x <= x0) as BGR;
 * the request is first clipped to the image.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

static PyObject *RegionError;

struct error_manager {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

struct region {
  int x0, y0, x1, y1;
  JDIMENSION x, width, height, image_width, image_height;
  unsigned char *pixels;
  char message[JMSG_LENGTH_MAX + 64];
};

static void on_error(j_common_ptr cinfo) {
  struct error_manager *err = (struct error_manager *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

static void no_output(j_common_ptr cinfo) { (void)cinfo; }  /* warnings: as OpenCV, go on */

/* Runs without the GIL: no Python calls. Returns 0, or -1 with r->message set. */
static int decode(const unsigned char *data, unsigned long size, struct region *r) {
  struct jpeg_decompress_struct cinfo;
  struct error_manager err;
  unsigned char *volatile pixels = NULL;
  JSAMPROW *volatile rows = NULL;

  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.output_message = no_output;
  if (setjmp(err.jump)) {
    snprintf(r->message, sizeof(r->message), "libjpeg: %s", err.message);
    jpeg_destroy_decompress(&cinfo);
    free(pixels);
    free(rows);
    return -1;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, size);
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space != JCS_YCbCr && cinfo.jpeg_color_space != JCS_GRAYSCALE &&
      cinfo.jpeg_color_space != JCS_RGB) {
    snprintf(r->message, sizeof(r->message), "colour space %d is not handled here",
             (int)cinfo.jpeg_color_space);
    jpeg_destroy_decompress(&cinfo);
    return -1;
  }
  cinfo.out_color_space = JCS_EXT_BGR;
  jpeg_start_decompress(&cinfo);
  r->image_width = cinfo.output_width;
  r->image_height = cinfo.output_height;
  /* The request is clipped to the image; what is left must not be empty. */
  if (r->x0 < 0) r->x0 = 0;
  if (r->y0 < 0) r->y0 = 0;
  if (r->x1 > (int)cinfo.output_width) r->x1 = (int)cinfo.output_width;
  if (r->y1 > (int)cinfo.output_height) r->y1 = (int)cinfo.output_height;
  if (r->x0 >= r->x1 || r->y0 >= r->y1) {
    snprintf(r->message, sizeof(r->message), "region (%d, %d, %d, %d) misses the %ux%u image",
             r->x0, r->y0, r->x1, r->y1, cinfo.output_width, cinfo.output_height);
    jpeg_destroy_decompress(&cinfo);
    return -1;
  }
  JDIMENSION x = (JDIMENSION)r->x0, width = (JDIMENSION)(r->x1 - r->x0);
  jpeg_crop_scanline(&cinfo, &x, &width);  /* widens to the iMCU grid */
  if (r->y0 > 0) jpeg_skip_scanlines(&cinfo, (JDIMENSION)r->y0);
  JDIMENSION height = (JDIMENSION)(r->y1 - r->y0);
  size_t stride = (size_t)cinfo.output_width * 3;  /* output_width is the cropped width now */
  pixels = malloc(stride * height);
  rows = malloc(sizeof(JSAMPROW) * height);
  if (pixels == NULL || rows == NULL) {
    snprintf(r->message, sizeof(r->message), "out of memory");
    jpeg_destroy_decompress(&cinfo);
    free(pixels);
    free(rows);
    return -1;
  }
  for (JDIMENSION i = 0; i < height; i++) rows[i] = pixels + i * stride;
  while (cinfo.output_scanline < (JDIMENSION)r->y1) {
    JDIMENSION done = cinfo.output_scanline - (JDIMENSION)r->y0;
    jpeg_read_scanlines(&cinfo, rows + done, height - done);
  }
  jpeg_abort_decompress(&cinfo);  /* the rows below the region are never decoded */
  jpeg_destroy_decompress(&cinfo);
  free(rows);
  r->x = x;
  r->width = (JDIMENSION)(stride / 3);
  r->height = height;
  r->pixels = pixels;
  return 0;
}

static PyObject *decode_region(PyObject *self, PyObject *args) {
  (void)self;
  Py_buffer data;
  struct region r;
  memset(&r, 0, sizeof(r));
  if (!PyArg_ParseTuple(args, "y*iiii", &data, &r.x0, &r.y0, &r.x1, &r.y1)) return NULL;
  int status;
  Py_BEGIN_ALLOW_THREADS
  status = decode((const unsigned char *)data.buf, (unsigned long)data.len, &r);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&data);
  if (status != 0) {
    PyErr_SetString(RegionError, r.message);
    return NULL;
  }
  PyObject *pixels = PyBytes_FromStringAndSize((const char *)r.pixels,
                                               (Py_ssize_t)r.width * r.height * 3);
  free(r.pixels);
  if (pixels == NULL) return NULL;
  return Py_BuildValue("(NIIIIII)", pixels, r.x, (unsigned int)r.y0, r.width, r.height,
                       r.image_width, r.image_height);
}

static PyMethodDef methods[] = {
    {"decode_region", decode_region, METH_VARARGS,
     "decode_region(data, x0, y0, x1, y1) -> (bgr bytes, x, y, width, height, image_width, "
     "image_height)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jpeg_region",
                                    "Region-of-interest JPEG decoding (libjpeg-turbo).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__jpeg_region(void) {
  PyObject *m = PyModule_Create(&module);
  if (m == NULL) return NULL;
  RegionError = PyErr_NewException("_jpeg_region.error", NULL, NULL);
  if (RegionError == NULL || PyModule_AddObject(m, "error", RegionError) < 0) {
    Py_XDECREF(RegionError);
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
