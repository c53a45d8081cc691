// Embedded as text, so the compiled proxy carries its dashboard: no files to install beside it.

import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import pageHtml from "./page.html.tmpl" with { type: "text" };

export const ASSETS = { uplotCss, uplotJs, pageHtml };
