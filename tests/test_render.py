"""PNG pictures of images: encoding, windows, slices, overlays, sizes."""
import base64
import struct
import zlib

import numpy as np
import pytest
import SimpleITK as sitk

from voxlogica_nb import data, render
from voxlogica_nb.image import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"
RED = (255, 0, 0)


def decode_png(png: bytes) -> np.ndarray:
    """Minimal 8-bit, non-interlaced, filter-0 PNG decoder that checks CRCs."""
    assert png[:8] == SIGNATURE
    chunks, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind, body = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        pos += 12 + length
    assert pos == len(png)
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and (comp, filt, interlace) == (0, 0, 0)
    channels = {0: 1, 2: 3, 6: 4}[ctype]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + width * channels)
    assert (rows[:, 0] == 0).all()
    pixels = rows[:, 1:].reshape(height, width, channels)
    return pixels[..., 0] if channels == 1 else pixels


def read_with_sitk(png: bytes, tmp_path) -> np.ndarray:
    path = tmp_path / "picture.png"
    path.write_bytes(png)
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


# -- encode_png ---------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (5, 7, 3), (3, 11, 4), (13, 1), (1, 13, 3), (2, 3, 4)])
def test_png_round_trip(shape, tmp_path):
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    png = render.encode_png(pixels)
    assert png.startswith(SIGNATURE)
    # the IEND chunk's CRC is a known constant
    assert png.endswith(b"\x00\x00\x00\x00IEND\xaeB`\x82")
    assert np.array_equal(decode_png(png), pixels)
    assert np.array_equal(read_with_sitk(png, tmp_path), pixels)


def test_png_large_picture(tmp_path):
    yy, xx = np.mgrid[0:1000, 0:1000]
    pixels = np.stack([xx % 256, yy % 256, (xx + yy) % 256], axis=2).astype(np.uint8)
    png = render.encode_png(pixels)
    assert np.array_equal(decode_png(png), pixels)
    assert np.array_equal(read_with_sitk(png, tmp_path), pixels)


def test_png_single_channel_axis_is_grey():
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    assert np.array_equal(decode_png(render.encode_png(pixels)), pixels[..., 0])


@pytest.mark.parametrize("pixels", [
    np.zeros((4, 4), np.float32),
    np.zeros((4, 4, 2), np.uint8),
    np.zeros((4,), np.uint8),
    np.zeros((0, 4), np.uint8),
])
def test_png_rejects_bad_pixels(pixels):
    with pytest.raises(ValueError):
        render.encode_png(pixels)


# -- intensity_window -----------------------------------------------------------

def test_window_ignores_outliers():
    values = np.random.default_rng(0).uniform(0.0, 100.0, (40, 50, 60)).astype(np.float32)
    values.flat[[5, 500, 5000]] = 1e6
    values.flat[[7, 700]] = -1e6
    values.flat[::97] = np.nan
    values.flat[[9, 900]] = np.inf
    low, high = render.intensity_window(values)
    assert 0.0 < low < 2.0 and 98.0 < high < 100.0
    assert render.intensity_window(values, 0.0, 100.0) == (-1e6, 1e6)


def test_window_of_large_volume_is_sampled_close_to_exact():
    values = np.random.default_rng(1).normal(0.0, 1.0, (155, 240, 240)).astype(np.float32)
    low, high = render.intensity_window(Image(values))
    exact = np.percentile(values, [1.0, 99.0])
    assert abs(low - exact[0]) < 0.02 and abs(high - exact[1]) < 0.02
    assert render.intensity_window(values) == (low, high)


def test_window_constant_nan_inf():
    assert render.intensity_window(np.full((5, 6), 3.5, np.float32)) == (3.5, 4.5)
    assert render.intensity_window(np.full((5, 6, 7), np.nan, np.float32)) == (0.0, 1.0)
    mixed = np.array([[np.inf, -np.inf], [np.nan, np.nan]], np.float32)
    assert render.intensity_window(mixed) == (0.0, 1.0)
    with_inf = np.array([[np.inf, 2.0], [np.nan, 2.0]], np.float32)
    assert render.intensity_window(with_inf) == (2.0, 3.0)


def test_window_of_small_region_uses_min_max():
    # percentiles 1..99 are both 3: the few zeros must still be told apart
    values = np.full((100, 100), 3.0, np.float32)
    values[:5, :5] = 0.0
    assert render.intensity_window(values) == (0.0, 3.0)


# -- slices -----------------------------------------------------------------------

def coordinate_volume(nz=4, ny=5, nx=6):
    """Voxel value 100 z + 10 y + x."""
    z, y, x = np.mgrid[0:nz, 0:ny, 0:nx]
    return Image((100 * z + 10 * y + x).astype(np.float32), spacing=(1.0, 2.0, 3.0))


def test_slice_shapes_and_orientation():
    img = coordinate_volume()
    arr = img.array
    axial = render.slice_of(img, 0, 1)
    assert axial.shape == (5, 6) and np.array_equal(axial, arr[1])
    coronal = render.slice_of(img, 1, 2)
    assert coronal.shape == (4, 6)
    assert np.array_equal(coronal[0], arr[3, 2]) and np.array_equal(coronal[-1], arr[0, 2])
    sagittal = render.slice_of(img, 2, 3)
    assert sagittal.shape == (4, 5)
    assert np.array_equal(sagittal[0], arr[3, :, 3]) and np.array_equal(sagittal[-1], arr[0, :, 3])


def test_slice_default_is_middle_and_index_checked():
    img = coordinate_volume()
    assert np.array_equal(render.slice_of(img, 0), img.array[2])
    assert np.array_equal(render.slice_of(img, 1), render.slice_of(img, 1, 2))
    assert np.array_equal(render.slice_of(img, 2), render.slice_of(img, 2, 3))
    assert np.array_equal(render.slice_of(img, 0, -1), img.array[3])
    with pytest.raises(IndexError):
        render.slice_of(img, 0, 4)
    with pytest.raises(ValueError):
        render.slice_of(img, 3)


def test_slice_of_2d_and_colour():
    pic = data.shapes()
    assert render.slice_of(pic, 2, 99) is pic.array
    vol = Image(np.zeros((4, 5, 6, 3), np.float32), "colour")
    assert render.slice_of(vol, 1, 0).shape == (4, 6, 3)


def test_phantom_slices_follow_radiological_convention():
    # size (x, y, z) = (48, 40, 32); the lesion is left (+x), anterior (-y), superior (+z)
    truth = data.phantom_truth(size=(48, 40, 32))
    assert truth.shape == (32, 40, 48)
    expected = {0: ((40, 48), "top", "right"), 1: ((32, 48), "top", "right"), 2: ((32, 40), "top", "left")}
    for axis, (shape, vertical, horizontal) in expected.items():
        view = render.slice_of(truth, axis)
        assert view.shape == shape
        rows, cols = np.nonzero(view)
        assert rows.size > 0
        assert (rows.mean() < shape[0] / 2) == (vertical == "top")
        assert (cols.mean() > shape[1] / 2) == (horizontal == "right")


def test_spacing_of_views():
    img = coordinate_volume()  # spacing (x, y, z) = (1, 2, 3)
    assert render.spacing_of(img, 0) == (1.0, 2.0)
    assert render.spacing_of(img, 1) == (1.0, 3.0)
    assert render.spacing_of(img, 2) == (2.0, 3.0)
    assert render.spacing_of(Image(np.zeros((3, 4)), spacing=(0.5, 0.25))) == (0.5, 0.25)


# -- to_rgb -------------------------------------------------------------------------

def test_number_picture_uses_window():
    img = Image(np.array([[0.0, 1.0, 2.0], [3.0, 4.0, np.nan], [np.inf, -np.inf, 2.5]]))
    rgb = render.to_rgb(img, window=(1.0, 3.0))
    assert rgb.dtype == np.uint8 and rgb.shape == (3, 3, 3)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    assert rgb[..., 0].tolist() == [[0, 0, 128], [255, 255, 0], [255, 0, 191]]


def test_slices_of_a_volume_share_the_window():
    vol = np.zeros((10, 8, 8), np.float32)
    vol[:] = np.arange(10, dtype=np.float32)[:, None, None]
    img = Image(vol)
    dark, bright = render.to_rgb(img, 0, 0), render.to_rgb(img, 0, 9)
    assert dark.max() == 0 and bright.min() == 255
    assert 0 < render.to_rgb(img, 0, 5)[0, 0, 0] < 255


def test_colour_picture_clipped_rounded_alpha_dropped():
    arr = np.array([[[10.4, 300.0, -5.0, 0.0], [np.nan, 127.5, 255.0, 255.0]]], np.float32)
    rgb = render.to_rgb(Image(arr, "colour"))
    assert rgb.tolist() == [[[10, 255, 0], [0, 128, 255]]]


def test_overlay_over_grey_base():
    flair, truth = data.phantom_flair(), data.phantom_truth()
    grey = render.to_rgb(flair)
    rgb = render.to_rgb(truth, base=flair)
    mask = render.slice_of(truth, 0).astype(bool)
    assert mask.sum() > 20
    assert np.array_equal(rgb[~mask], grey[~mask])
    inside = rgb[mask].astype(int)
    assert (inside[:, 0] > inside[:, 1]).all() and (inside[:, 0] > inside[:, 2]).all()
    # inner voxels blend half and half; outline voxels are fully red
    outline = mask & ~(np.roll(mask, 1, 0) & np.roll(mask, -1, 0) & np.roll(mask, 1, 1) & np.roll(mask, -1, 1))
    inner = mask & ~outline
    assert inner.sum() > 0
    blend = np.rint(0.5 * grey[inner] + 0.5 * np.array(RED))
    assert np.array_equal(rgb[inner], blend)
    assert (rgb[outline] == RED).all()


def test_overlay_uses_base_window_and_colour_base():
    flair, truth = data.phantom_flair(), data.phantom_truth()
    rgb = render.to_rgb(truth, base=flair, base_window=(0.0, 10.0))
    outside = ~render.slice_of(truth, 0).astype(bool)
    assert rgb[outside].max() <= 26
    pic, disc = data.shapes(), data.shapes_truth()["disc"]
    over = render.to_rgb(disc, base=pic)
    m = disc.array.astype(bool)
    # A colour base is drawn in grey, so a red mask over the red disc stands out.
    assert (over[~m][:, 0] == over[~m][:, 1]).all() and (over[~m][:, 1] == over[~m][:, 2]).all()
    luminance = render.to_rgb(pic)[~m].astype(float) @ [0.299, 0.587, 0.114]
    assert np.abs(over[~m][:, 0] - luminance).max() <= 1
    inside = over[m].astype(int)
    assert ((inside[:, 0] - inside[:, 1]) >= 40).all()  # clearly red where the base was red already


def test_overlay_over_bool_base():
    square = Image(np.pad(np.ones((4, 4), np.uint8), 3), "bool")
    dot = np.zeros((10, 10), np.uint8)
    dot[0, 0] = dot[5, 5] = 1
    rgb = render.to_rgb(Image(dot, "bool"), base=square)
    assert (rgb[5, 5] == RED).all() and (rgb[0, 0] == RED).all()
    assert (rgb[4, 4] == 255).all() and (rgb[1, 1] == 0).all()


def test_thin_mask_is_opaque():
    base = Image(np.full((9, 9), 0.5, np.float32))
    line = np.zeros((9, 9), np.uint8)
    line[4, 1:8] = 1
    rgb = render.to_rgb(Image(line, "bool"), base=base, base_window=(0.0, 1.0))
    assert (rgb[4, 1:8] == RED).all()
    assert (rgb[0] == 128).all()


def test_mask_without_usable_base_is_red_on_black():
    truth = data.phantom_truth()
    mask = render.slice_of(truth, 1).astype(bool)
    for base in (None, data.phantom_flair(size=(40, 40, 20)), np.zeros(truth.shape)):
        rgb = render.to_rgb(truth, 1, base=base)
        assert (rgb[mask] == RED).all() and (rgb[~mask] == 0).all()


# -- upscale -------------------------------------------------------------------------

def test_upscale_isotropic_repeats_pixels():
    pixels = np.arange(48 * 40, dtype=np.uint8).reshape(40, 48)
    big = render.upscale(pixels, (1.0, 1.0))
    assert big.shape == (280, 336)  # factor 7: shorter side 40 -> 280 >= 256
    assert np.array_equal(big, np.repeat(np.repeat(pixels, 7, 0), 7, 1))


def test_upscale_anisotropic_follows_spacing():
    # 20 rows of 2 mm, 30 columns of 1 mm: 30 mm wide, 40 mm high
    pixels = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    big = render.upscale(pixels, (1.0, 2.0))
    assert big.shape == (360, 270, 3)
    assert big.shape[1] / big.shape[0] == pytest.approx(30 / 40)
    assert np.array_equal(big, np.repeat(np.repeat(pixels, 18, 0), 9, 1))


def test_upscale_size_limits():
    assert render.upscale(np.zeros((1000, 500), np.uint8)).shape == (768, 384)
    assert render.upscale(np.zeros((300, 700), np.uint8)).shape == (300, 700)
    # cannot reach min_size without passing max_size: the longer side wins
    assert render.upscale(np.zeros((4, 400), np.uint8)).shape == (4, 400)
    small = render.upscale(np.zeros((100, 50), np.uint8))
    assert min(small.shape) >= 256 and max(small.shape) <= 768
    assert render.upscale(np.zeros((5, 5), np.uint8), (0.0, np.nan)).shape == (260, 260)


# -- image_png and the Jupyter representations -------------------------------------------

def test_image_png_of_anisotropic_coronal_slice():
    img = data.phantom_flair(size=(40, 30, 20), spacing=(1.0, 1.0, 2.0))
    pixels = decode_png(render.image_png(img, axis=1))
    assert pixels.shape[2] == 3
    height, width = pixels.shape[:2]
    assert width / height == pytest.approx(40 / 40)  # 40 mm wide, 20 x 2 mm high
    expected = render.upscale(render.to_rgb(img, 1), (1.0, 2.0))
    assert np.array_equal(pixels, expected)


@pytest.mark.parametrize("image", [
    data.shapes(),
    data.phantom_flair(),
    data.phantom_truth(),
    data.shapes_truth()["triangle"],
], ids=["colour-2d", "number-3d", "bool-3d", "bool-2d"])
def test_repr_png_and_html(image):
    png = image._repr_png_()
    pixels = decode_png(png)
    assert pixels.ndim == 3 and pixels.shape[2] == 3
    assert min(pixels.shape[:2]) >= 256 and max(pixels.shape[:2]) <= 768
    assert pixels.std() > 0
    html = image._repr_html_()
    prefix = 'src="data:image/png;base64,'
    assert prefix in html
    encoded = html.split(prefix, 1)[1].split('"', 1)[0]
    assert base64.b64decode(encoded) == png
    assert image.kind in html
    if image.ndim == 3:
        assert f"axial slice {image.shape[0] // 2} of {image.shape[0]}" in html


@pytest.mark.parametrize("image", [
    Image(np.full((6, 7, 8), np.nan, np.float32)),
    Image(np.array([[np.inf, -np.inf], [np.nan, 1.0]], np.float32)),
    Image(np.full((3, 3), 7.0, np.float32), spacing=(0.0, 1.0)),
    Image(np.zeros((1, 1), np.float32)),
    Image(np.zeros((1, 1, 1), np.uint8), "bool"),
    Image(np.full((2, 3, 4, 4), np.nan, np.float32), "colour"),
    Image(np.full((3, 2000), 1e38, np.float32) * np.array([-1.0, 0.0, 1.0], np.float32)[:, None]),
], ids=["nan", "inf", "zero-spacing", "1x1", "1x1x1-bool", "nan-rgba", "huge-values"])
def test_repr_never_fails(image):
    pixels = decode_png(image._repr_png_())
    assert max(pixels.shape[:2]) <= 768
    assert "data:image/png;base64," in image._repr_html_()


def test_repr_of_empty_image():
    img = Image(np.zeros((0, 4), np.float32))
    assert img._repr_png_() is None
    assert "<img" not in img._repr_html_() and "number image 4×0" in img._repr_html_()
