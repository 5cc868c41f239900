/* Writes a 32x24 CMYK JPEG of the quadrant pattern (see gen_jpeg_fixtures.sh), stored inverted with
 * an Adobe marker, as Photoshop does (that is what decoders, Go's included, expect of 4-channel JPEGs).
 * CMYK of each quadrant: red (220,30,30) ~ C0 M222 Y222 K35; green (30,200,40) ~ C217 M0 Y204 K55;
 * blue (30,40,210) ~ C218 M206 Y0 K45; white-ish (240,240,240) ~ C0 M0 Y0 K15. */
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>

static unsigned char rgb[4][3] = {{220, 30, 30}, {30, 200, 40}, {30, 40, 210}, {240, 240, 240}};

int main(int argc, char **argv) {
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr e;
	FILE *f = fopen(argv[1], "wb");
	unsigned char row[32 * 4];
	if (!f) return 1;
	c.err = jpeg_std_error(&e);
	jpeg_create_compress(&c);
	jpeg_stdio_dest(&c, f);
	c.image_width = 32;
	c.image_height = 24;
	c.input_components = 4;
	c.in_color_space = JCS_CMYK;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, 95, TRUE);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < 24) {
		int y = c.next_scanline;
		for (int x = 0; x < 32; x++) {
			unsigned char *p = rgb[(y >= 12) * 2 + (x >= 16)];
			int mx = p[0] > p[1] ? p[0] : p[1];
			if (p[2] > mx) mx = p[2];
			int k = 255 - mx;
			for (int i = 0; i < 3; i++) { /* C, M, Y from R, G, B */
				int v = mx ? (mx - p[i]) * 255 / mx : 0;
				row[x * 4 + i] = 255 - v; /* Adobe-inverted */
			}
			row[x * 4 + 3] = 255 - k;
		}
		JSAMPROW r = row;
		jpeg_write_scanlines(&c, &r, 1);
	}
	jpeg_finish_compress(&c);
	fclose(f);
	return 0;
}
