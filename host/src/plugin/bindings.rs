//! Host bindings generated from `wit/operator.wit`.

wasmtime::component::bindgen!({
    world: "operator",
    path: "../wit",
});
