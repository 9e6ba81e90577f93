// The few VS Code extension API declarations extension.ts uses (the `vscode`
// module is provided by the editor at run time and kept external by esbuild).
// Declared here instead of depending on @types/vscode for five names.
declare module "vscode" {
  export interface Disposable { dispose(): unknown }
  export interface ExtensionContext { extensionPath: string; subscriptions: { dispose(): unknown }[] }
  export interface WorkspaceFolder { uri: { fsPath: string } }
  export interface DebugConfiguration { type: string; name: string; request: string; [key: string]: unknown }
  export interface DebugSession { configuration: DebugConfiguration; workspaceFolder: WorkspaceFolder | undefined }
  export class DebugAdapterExecutable {
    constructor(command: string, args?: string[], options?: { env?: Record<string, string>; cwd?: string });
  }
  export class DebugAdapterInlineImplementation { constructor(implementation: unknown) }
  export type DebugAdapterDescriptor = DebugAdapterExecutable | DebugAdapterInlineImplementation;
  export interface DebugAdapterDescriptorFactory {
    createDebugAdapterDescriptor(session: DebugSession, executable: DebugAdapterExecutable | undefined): DebugAdapterDescriptor | Promise<DebugAdapterDescriptor>;
  }
  export interface DebugConfigurationProvider {
    resolveDebugConfiguration?(folder: WorkspaceFolder | undefined, config: DebugConfiguration): DebugConfiguration | undefined | null;
  }
  export namespace debug {
    function registerDebugAdapterDescriptorFactory(type: string, factory: DebugAdapterDescriptorFactory): Disposable;
    function registerDebugConfigurationProvider(type: string, provider: DebugConfigurationProvider): Disposable;
  }
}
