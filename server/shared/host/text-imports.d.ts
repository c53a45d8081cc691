// The units' sandbox is embedded as text (`with { type: "text" }`): systemd-run is given its lines.
declare module "*.conf" {
  const text: string;
  export default text;
}
