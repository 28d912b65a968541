// Shows this deployment's MCP URL (the page's own origin + /api/mcp) wherever the page has a
// [data-mcp-url] placeholder, and enables the copy button where the clipboard is available.
// A same-origin file, not inline: the static pages' CSP allows `script-src 'self'` only.
"use strict";

const mcpUrl = `${window.location.origin}/api/mcp`;

for (const element of document.querySelectorAll("[data-mcp-url]")) {
  element.textContent = mcpUrl;
}

if (navigator.clipboard) {
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(mcpUrl);
        button.textContent = "Copied";
      } catch {
        button.textContent = "Copy failed: select the URL";
      }
      setTimeout(() => {
        button.textContent = "Copy";
      }, 2000);
    });
  }
}
