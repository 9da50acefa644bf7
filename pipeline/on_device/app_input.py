"""The app flavour's preparation, as TensorFlow ops in its graph: a uint8 RGB photo made into the model's input.

MediaPipe's ImageClassifier hands the app flavour `uint8[1, height, width, 3]` RGB; our models take
grey `[batch, 28, 28]` images. So the graph does what made Fashion-MNIST's images, as far as a graph
can (`pipeline/data/photos.py` does it all in Python):

    uint8 RGB [1, 224, 224, 3] -> float -> 8×8 average pool to 28×28 (an exact area resize)
    -> grey (ITU-R 601: 0.299 R + 0.587 G + 0.114 B, as Pillow's convert("L"))
    -> inverted when more than half of the border pixels are light (>= 128): a dark garment on a light
       background becomes Fashion-MNIST's light garment on black
    -> the background (the darkest border pixel) made black and the rest stretched to 0-255, so a photo
       on off-white or grey paper looks like one on white
    -> the model's raw 0-255 pixels (its rescaling is inside)

224×224 is MediaPipe's usual classifier input and 8 × 28, so the area resize is an exact block
average. MediaPipe itself resizes any frame to it first (bilinear). What the graph does not do is
trim the background margin and centre the garment, longest side filling the frame: a photo whose
garment does not fill the frame loses much accuracy (a garment of 60% of the frame's side, placed
anywhere: 27% where photos.prepare_image gets 92%, cnn_dropout). The light-background test, the
inversion and the stretch are arithmetic (clip, multiply, add, a series for the gain), not a select
or a division: the int8 file aborted in LiteRT on SELECT_V2 and on DIV. A model trained on a folder of
images of another size, or on RGB, takes RGB at its own size: grey conversion only if it was trained
on grey images, and no inversion (that is Fashion-MNIST's convention alone, as in photos.prepare_for).
"""

from pipeline.core.errors import PipelineError
from pipeline.core.frameworks import tf
from pipeline.data.photos import FASHION_MNIST_INPUT_SHAPES

DEFAULT_INPUT_SIZE = 224  # MediaPipe's usual classifier input, and 8 × 28
GREY_WEIGHTS = (0.299, 0.587, 0.114)
WHITE = 255.0
LIGHT_LEVEL = 128.0  # a border pixel at least this bright counts as light background


def fashion_style(input_shape: tuple[int, ...]) -> bool:
    """Whether a model of `input_shape` gets Fashion-MNIST's preparation (grey, light on dark, 28×28)."""
    return tuple(input_shape) in FASHION_MNIST_INPUT_SHAPES


def app_input_size(input_shape: tuple[int, ...], size: int = DEFAULT_INPUT_SIZE) -> tuple[int, int]:
    """The app flavour's input height and width: `size`×`size` for a 28×28 grey model (a multiple of 28,
    for an exact block-average resize), else the model's own."""
    if not fashion_style(input_shape):
        return int(input_shape[0]), int(input_shape[1])
    if size < input_shape[0] or size % input_shape[0]:
        raise PipelineError(f"the app flavour's input size must be a multiple of {input_shape[0]}, not {size}")
    return size, size


def _border(grey: tf.Tensor) -> tf.Tensor:
    """The outermost pixels of grey images [1, h, w], once each: [1, 2h + 2w - 4]."""
    return tf.concat([grey[:, 0, :], grey[:, -1, :], grey[:, 1:-1, 0], grey[:, 1:-1, -1]], axis=1)


def _stretch_background(grey: tf.Tensor) -> tf.Tensor:
    """Light-on-dark grey images [1, h, w] with their background made black and the rest stretched to
    0-255, as photos.py does for a photo on off-white or grey paper. The background is the darkest border
    pixel (after the average pool, so noise has mostly gone; the garment, light, does not pull it up).

    The gain 1 / (1 - r), r = background / 255, is its series 1 + r + r² + r³ (within 1.2% up to r = 0.3,
    a background of 178 before the inversion): the int8 file aborted in LiteRT on a DIV."""
    background = tf.reshape(tf.reduce_min(_border(grey), axis=1), [-1, 1, 1])
    share = background / WHITE
    return tf.nn.relu(grey - background) * (1 + share * (1 + share * (1 + share)))


def _light_background(grey: tf.Tensor) -> tf.Tensor:
    """1.0 when more than half of the border pixels of grey images [1, h, w] are light, else 0.0, as
    arithmetic: a step of one grey level per pixel, then two clips for the majority.

    In the int8 file a clip's bounds are quantized with its input's scale, so the last clip's input spans
    [-4, 4] only: its bound 1 is then exact to 1/64 (a steep clip of the count, spanning hundreds, put
    the "light" at 0.86 and a white background at grey level 37 instead of 0)."""
    border = _border(grey)
    light_pixels = tf.reduce_sum(tf.clip_by_value(border - (LIGHT_LEVEL - 1), 0.0, 1.0), axis=1)
    # At least ±0.5: the count is a whole number and the middle is between two.
    majority = tf.clip_by_value(light_pixels - (border.shape[1] + 1) / 2, -1.0, 1.0)
    return tf.reshape(tf.clip_by_value(majority * 4, 0.0, 1.0), [-1, 1, 1])


def to_model_input(image: tf.Tensor, input_shape: tuple[int, ...]) -> tf.Tensor:
    """uint8 RGB images [1, H, W, 3] as the model's raw 0-255 input of `input_shape`, as the graph does it."""
    pixels = tf.cast(image, tf.float32)
    factor = (image.shape[1] // input_shape[0], image.shape[2] // input_shape[1])
    if factor != (1, 1):
        pixels = tf.nn.avg_pool2d(pixels, ksize=factor, strides=factor, padding="VALID")
    if input_shape[2:] == (3,):
        return pixels
    grey = tf.reduce_sum(pixels * tf.constant(GREY_WEIGHTS), axis=-1)
    if fashion_style(input_shape):
        grey = _stretch_background(grey + _light_background(grey) * (WHITE - 2 * grey))
    return tf.reshape(grey, [-1, *input_shape])
