// Activations and their derivatives, shared: joined to the end of each layer kernel's module
// when it is created (src/nn/activation.ts), so every kernel computes them the same way.
// 0 none, 1 relu, 2 tanh, 3 sigmoid (ACTIVATION_CODE in src/nn/model.ts).

// The layer's own activation, applied in its forward's epilogue.
override ACT: u32 = 0u;
// The activation of the layer BELOW (whose output is this layer's input x), applied in the
// input gradient's epilogue so that it emits that layer's pre-activation gradient.
override PREV_ACT: u32 = 0u;

// tanh is clamped to ±15, where it is ±1 in f32 anyway, against exp overflow in some drivers.
fn activate(z: f32) -> f32 {
  switch ACT {
    case 1u: { return max(z, 0.0); }
    case 2u: { return tanh(clamp(z, -15.0, 15.0)); }
    case 3u: { return 1.0 / (1.0 + exp(-z)); }
    default: { return z; }
  }
}

// d act(z) / dz written in terms of the activation's output y = act(z).
fn prev_act_grad(y: f32) -> f32 {
  switch PREV_ACT {
    case 1u: { return select(0.0, 1.0, y > 0.0); }
    case 2u: { return 1.0 - y * y; }
    case 3u: { return y * (1.0 - y); }
    default: { return 1.0; }
  }
}

// activate() on four values at once.
fn activate4(z: vec4f) -> vec4f {
  switch ACT {
    case 1u: { return max(z, vec4f(0.0)); }
    case 2u: { return tanh(clamp(z, vec4f(-15.0), vec4f(15.0))); }
    case 3u: { return 1.0 / (1.0 + exp(-z)); }
    default: { return z; }
  }
}

// prev_act_grad() on four values at once.
fn prev_act_grad4(y: vec4f) -> vec4f {
  switch PREV_ACT {
    case 1u: { return select(vec4f(0.0), vec4f(1.0), y > vec4f(0.0)); }
    case 2u: { return 1.0 - y * y; }
    case 3u: { return y * (1.0 - y); }
    default: { return vec4f(1.0); }
  }
}
