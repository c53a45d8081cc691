// Files the proxy embeds as text (`with { type: "text" }`): their default export is a string.
declare module "uplot/dist/uPlot.min.css" {
  const text: string;
  export default text;
}
declare module "uplot/dist/uPlot.iife.min.js" {
  const text: string;
  export default text;
}
declare module "*.tmpl" {
  const text: string;
  export default text;
}
