// The plugin SDK and the WIT are embedded in the binary (scaffold/bundled.rs):
// a change to either must rebuild it.
fn main() {
    println!("cargo:rerun-if-changed=../plugin-sdk");
    println!("cargo:rerun-if-changed=../wit");
    println!("cargo:rerun-if-changed=../Cargo.toml");
}
