// esbuild's binary loader turns a .wasm import into its bytes
declare module "*.wasm" {
  const bytes: Uint8Array;
  export default bytes;
}
// esbuild's text loader: gdb target-description files (hypervisor/debug/gdb/*.xml)
declare module "*.xml" {
  const text: string;
  export default text;
}
