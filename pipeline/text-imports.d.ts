// The install relay is embedded as text (`with { type: "text" }`): the sandbox runs it as a file.
declare module "*.mjs" {
  const text: string;
  export default text;
}
