"""Real-world-style architectures written in plain ``torch.nn`` (no torchvision).

Each model keeps the real topology of its family at a small width / resolution so that
exporting all of them stays fast on a 2-core CPU.  ``build(name)`` returns
``(module_in_eval_mode, example_inputs_tuple)`` at batch 1 and is deterministic: every
builder seeds torch itself.

Models
------
resnet18            ResNet-18 (BasicBlock x [2,2,2,2], BN, 1x1 downsample, adaptive avgpool, fc),
                    base width 16 (the real net uses 64), 1x3x64x64 input, 10 classes.
mobilenetv2         MobileNetV2 (torchvision's layout: inverted residuals, expansion 6, depthwise 3x3,
                    ReLU6, width multiplier 0.5, last channel 1280), 1x3x64x64, 10 classes.
transformer         Embedding(100, 64) -> nn.TransformerEncoder(2 x layer(d 64, 4 heads, ff 128,
                    batch_first)) -> mean over tokens -> Linear(64, 4); int64 ids 1x16.  UNTRAINED:
                    nn.TransformerEncoder deep-copies its layer, so both layers hold identical
                    values and the legacy exporter merges their initializers.
transformer_distinct  the same net, but every encoder layer re-initialised from its own seed, so the
                    layers differ and no exporter can merge them.
vit                 Vision Transformer written by hand: Conv2d patch embedding (patch 8, stride 8),
                    class token, learned positional embedding, 2 pre-norm blocks (LayerNorm,
                    qkv Linear, explicit q@k^T / softmax / @v matmuls, proj, GELU MLP), head;
                    1x3x32x32, dim 64, 4 heads, mlp 128, 10 classes.
lstm_gru            Embedding(100, 32) -> LSTM(32, 64) -> bidirectional GRU(64, 48) -> last time
                    step -> Linear(96, 5); int64 ids 1x20.
conv1d_audio        1-D conv net on raw 1x1x1600 signals (M5-style): strided Conv1d, BN, ReLU,
                    MaxPool1d, a grouped Conv1d, global average pool, Linear(64, 8).
unet                U-Net with 2 down / 2 up levels (double 3x3 conv + BN + ReLU, MaxPool,
                    ConvTranspose2d(k=2, s=2) upsampling, skip Concat), 1x1x32x32 -> 2 channels.
"""
from __future__ import annotations

import math

import torch
from torch import nn

NAMES = ("resnet18", "mobilenetv2", "transformer", "transformer_distinct", "vit",
         "lstm_gru", "conv1d_audio", "unet")


class MatMul(nn.Module):
    """``a @ b`` as a module, so forward hooks (and the MAC counter) see activation x activation
    matmuls such as attention's q@k^T and attn@v."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


# --------------------------------------------------------------------------- ResNet-18
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [width, 2 * width, 4 * width, 8 * width]
        inplanes = width
        layers = []
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(inplanes, w, stride), BasicBlock(w, w, 1)))
            inplanes = w
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1], num_classes)
        for m in self.modules():  # torchvision's init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# --------------------------------------------------------------------------- MobileNetV2
def _make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _conv_bn_relu6(inp, oup, k, stride, groups=1):
    return nn.Sequential(nn.Conv2d(inp, oup, k, stride, (k - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(oup), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(_conv_bn_relu6(inp, hidden, 1, 1))                    # pointwise expand
        layers += [_conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),      # depthwise 3x3
                   nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),                   # linear bottleneck
                   nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
               [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]

    def __init__(self, num_classes: int = 10, width_mult: float = 0.5):
        super().__init__()
        input_channel = _make_divisible(32 * width_mult)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult))
        features = [_conv_bn_relu6(3, input_channel, 3, 2)]
        for t, c, n, s in self.SETTING:
            out = _make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(input_channel, out, s if i == 0 else 1, t))
                input_channel = out
        features.append(_conv_bn_relu6(input_channel, self.last_channel, 1, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.last_channel, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        return self.classifier(torch.flatten(x, 1))


# --------------------------------------------------------------------------- text transformer
class TextTransformer(nn.Module):
    def __init__(self, vocab: int = 100, d_model: int = 64, nhead: int = 4, ff: int = 128,
                 layers: int = 2, num_classes: int = 4, distinct_seed: int | None = None):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, ff, dropout=0.0, batch_first=True)
        # nn.TransformerEncoder deep-copies `layer`: all layers start with identical values.
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, num_classes)
        if distinct_seed is not None:
            for i, lyr in enumerate(self.encoder.layers):
                g = torch.Generator().manual_seed(distinct_seed + 1000 * i)
                with torch.no_grad():
                    for p in lyr.parameters():
                        if p.dim() > 1:
                            bound = 1.0 / math.sqrt(p.shape[1])
                            p.copy_(torch.rand(p.shape, generator=g) * 2 * bound - bound)
                        else:  # biases and LayerNorm params: small distinct offsets
                            p.add_(torch.randn(p.shape, generator=g) * 0.02)

    def forward(self, tokens):
        h = self.encoder(self.embed(tokens))
        return self.head(h.mean(dim=1))


# --------------------------------------------------------------------------- ViT
class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.dh = heads, dim // heads
        self.scale = self.dh ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.qk = MatMul()
        self.av = MatMul()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.dh).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (self.qk(q, k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        out = self.av(attn, v).transpose(1, 2).reshape(b, n, d)
        return self.proj(out)


class ViTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(mlp, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    def __init__(self, image: int = 32, patch: int = 8, in_ch: int = 3, dim: int = 64,
                 depth: int = 2, heads: int = 4, mlp: int = 128, num_classes: int = 10):
        super().__init__()
        n = (image // patch) ** 2
        self.patch_embed = nn.Conv2d(in_ch, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[ViTBlock(dim, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)             # (b, n, dim)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


# --------------------------------------------------------------------------- LSTM + GRU
class LstmGru(nn.Module):
    def __init__(self, vocab: int = 100, emb: int = 32, hidden: int = 64, gru_hidden: int = 48,
                 num_classes: int = 5):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True)
        self.gru = nn.GRU(hidden, gru_hidden, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * gru_hidden, num_classes)

    def forward(self, tokens):
        h, _ = self.lstm(self.embed(tokens))
        h, _ = self.gru(h)
        return self.fc(h[:, -1, :])


# --------------------------------------------------------------------------- 1-D audio conv net
def _c1(cin, cout, k, stride=1, pad=0, groups=1):
    return [nn.Conv1d(cin, cout, k, stride, pad, groups=groups, bias=False),
            nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]


class Conv1dAudio(nn.Module):
    def __init__(self, num_classes: int = 8):
        super().__init__()
        self.features = nn.Sequential(
            *_c1(1, 16, 40, stride=8, pad=16), nn.MaxPool1d(4),       # 1600 -> 200 -> 50
            *_c1(16, 32, 3, pad=1), nn.MaxPool1d(2),                  # 50 -> 25
            *_c1(32, 64, 3, stride=2, pad=1),                         # 25 -> 13
            *_c1(64, 64, 3, pad=1, groups=4),                         # grouped conv
        )
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


# --------------------------------------------------------------------------- U-Net
def _double(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, in_ch: int = 1, out_ch: int = 2, base: int = 8):
        super().__init__()
        self.enc1 = _double(in_ch, base)
        self.enc2 = _double(base, 2 * base)
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double(2 * base, 4 * base)
        self.up2 = nn.ConvTranspose2d(4 * base, 2 * base, 2, stride=2)
        self.dec2 = _double(4 * base, 2 * base)
        self.up1 = nn.ConvTranspose2d(2 * base, base, 2, stride=2)
        self.dec1 = _double(2 * base, base)
        self.out = nn.Conv2d(base, out_ch, 1)

    def forward(self, x):
        e1 = self.enc1(x)                                    # 32x32
        e2 = self.enc2(self.pool(e1))                        # 16x16
        b = self.bottleneck(self.pool(e2))                   # 8x8
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))  # 16x16
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))  # 32x32
        return self.out(d1)


# --------------------------------------------------------------------------- builder
def _tokens(length: int, vocab: int = 100, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (1, length), generator=g, dtype=torch.int64)


def _image(*shape: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g)


# name -> (constructor, example-input factory, input names)
_SPECS = {
    "resnet18": (lambda: ResNet18(), lambda: (_image(1, 3, 64, 64),), ("input",)),
    "mobilenetv2": (lambda: MobileNetV2(), lambda: (_image(1, 3, 64, 64),), ("input",)),
    "transformer": (lambda: TextTransformer(), lambda: (_tokens(16),), ("tokens",)),
    "transformer_distinct": (lambda: TextTransformer(distinct_seed=1234), lambda: (_tokens(16),),
                             ("tokens",)),
    "vit": (lambda: ViT(), lambda: (_image(1, 3, 32, 32),), ("input",)),
    "lstm_gru": (lambda: LstmGru(), lambda: (_tokens(20),), ("tokens",)),
    "conv1d_audio": (lambda: Conv1dAudio(), lambda: (_image(1, 1, 1600),), ("input",)),
    "unet": (lambda: UNet(), lambda: (_image(1, 1, 32, 32),), ("input",)),
}


def input_names(name: str) -> tuple[str, ...]:
    return _SPECS[name][2]


def build(name: str) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """Return ``(module.eval(), example_inputs)`` at batch 1.  Deterministic (seed 0)."""
    if name not in _SPECS:
        raise KeyError(f"unknown zoo model {name!r}; known: {', '.join(NAMES)}")
    ctor, inputs, _ = _SPECS[name]
    torch.manual_seed(0)
    module = ctor()
    # give BatchNorm non-trivial running statistics so a folded BN is not an identity
    g = torch.Generator().manual_seed(7)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(m.num_features, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return module.eval(), inputs()
