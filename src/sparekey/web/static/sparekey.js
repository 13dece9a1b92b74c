// Progressive enhancement only: every page works without this file.
// The browser's time zone, for pages that show times (until the owner chooses one).
if (!document.cookie.split("; ").some((c) => c.startsWith("tz="))) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && /^[A-Za-z0-9_+\-\/]+$/.test(zone)) {
    document.cookie = `tz=${zone}; path=/; max-age=31536000; samesite=lax`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const copy = document.getElementById("copy-codes");
  if (copy && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", async () => {
      const text = document.getElementById(copy.dataset.copy).value;
      await navigator.clipboard.writeText(text);
      copy.classList.add("done");
    });
  }
  const printNow = document.getElementById("print-now");
  if (printNow) {
    printNow.hidden = false;
    printNow.addEventListener("click", () => window.print());
  }
});
