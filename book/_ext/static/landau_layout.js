/* Landau book: layout fixes checked by tests/test_browser.py. Added to every page by
   book/_ext/html_fixes.py; LANDAU_FIGURES (smallest font in points, PNG dpi) is set there. */
(function () {
  "use strict";
  const FIG = window.LANDAU_FIGURES || {minFontPt: 9, dpi: 100, minTextPx: 9};
  const MIN_SCALE = 0.8;   // display math is shrunk to fit its column, never below 80 %

  // 1. display math: shrink to the column when at most 20 % too wide; else it scrolls (CSS)
  function fitMath() {
    document.querySelectorAll('.bd-article mjx-container[display="true"]').forEach(c => {
      c.style.fontSize = "";
      const math = c.querySelector("mjx-math");
      if (!math) return;
      const avail = c.clientWidth, need = math.getBoundingClientRect().width;
      if (need > avail + 0.5) {
        const s = (avail - 1) / need;
        if (s >= MIN_SCALE) c.style.fontSize = (100 * s).toFixed(1) + "%";
        c.dataset.landauScale = s >= MIN_SCALE ? s.toFixed(3) : "scroll";
      } else {
        delete c.dataset.landauScale;
      }
    });
  }

  // 2. figures: a minimum rendered width (text >= minTextPx) and click-to-enlarge
  const scale = () => FIG.minTextPx / (FIG.minFontPt * FIG.dpi / 72);
  function sizeFigure(img) {
    if (!img.naturalWidth) return;
    img.style.minWidth = Math.ceil(img.naturalWidth * scale()) + "px";
  }
  function figures() {
    document.querySelectorAll(".bd-article .cell_output img, .bd-article figure img").forEach(img => {
      if (img.closest(".landau-figure-scroll")) return;
      const frame = document.createElement("div");
      frame.className = "landau-figure-scroll";
      img.parentNode.insertBefore(frame, img);
      frame.appendChild(img);
      img.classList.add("landau-zoomable");
      img.title = img.title || "click to enlarge";
      if (img.complete) sizeFigure(img); else img.addEventListener("load", () => sizeFigure(img));
      img.addEventListener("click", ev => { ev.preventDefault(); openLightbox(img); });
    });
  }
  function openLightbox(img) {
    const box = document.createElement("div");
    box.className = "landau-lightbox";
    box.setAttribute("role", "dialog");
    const big = document.createElement("img");
    big.src = img.currentSrc || img.src;
    big.alt = img.alt;
    // natural size, or the whole window when that is wider
    big.style.width = Math.max(img.naturalWidth, Math.min(window.innerWidth - 16, 2 * img.naturalWidth)) + "px";
    const hint = document.createElement("div");
    hint.className = "landau-lightbox-hint";
    hint.textContent = "✕ close (Esc)";
    box.append(big, hint);
    const close = () => { box.remove(); document.removeEventListener("keydown", esc); };
    const esc = ev => { if (ev.key === "Escape") close(); };
    box.addEventListener("click", close);
    document.addEventListener("keydown", esc);
    document.body.appendChild(box);
  }

  function ready() {
    figures();
    const done = () => { fitMath(); document.documentElement.dataset.landauLayout = "done"; };
    let tries = 0;
    (function whenMath() {   // MathJax (deferred) may load after this script
      if (!document.querySelector(".math")) return done();
      if (window.MathJax && MathJax.startup && MathJax.startup.promise) return MathJax.startup.promise.then(done);
      if (tries++ < 200) setTimeout(whenMath, 50); else done();
    })();
    let t;
    window.addEventListener("resize", () => { clearTimeout(t); t = setTimeout(fitMath, 100); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
