// Progressive enhancement only: every page works without this file.
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
