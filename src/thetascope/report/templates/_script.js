// thetascope report: tooltips, metric tabs, θ-slider galleries. No dependencies.
(function () {
  const tip = document.getElementById("tip");
  document.addEventListener("mousemove", function (e) {
    const t = e.target.closest ? e.target.closest("[data-tip]") : null;
    if (!t || !t.dataset.tip) { tip.hidden = true; return; }
    tip.textContent = t.dataset.tip;
    tip.hidden = false;
    const x = Math.min(e.pageX + 14, window.scrollX + document.documentElement.clientWidth - 350);
    tip.style.left = x + "px";
    tip.style.top = (e.pageY + 16) + "px";
  });
  document.querySelectorAll(".tabs").forEach(function (tabs) {
    tabs.addEventListener("click", function (e) {
      const b = e.target.closest("button");
      if (!b) return;
      tabs.querySelectorAll("button").forEach(function (x) { x.classList.toggle("on", x === b); });
      document.querySelectorAll('[data-group="' + tabs.dataset.group + '"][data-key]')
        .forEach(function (p) { p.hidden = p.dataset.key !== b.dataset.key; });
    });
  });
  document.querySelectorAll(".gallery").forEach(function (g) {
    const d = JSON.parse(g.querySelector("script.gdata").textContent);
    const slider = g.querySelector("input[type=range]");
    const label = g.querySelector("output");
    function show() {
      const k = Number(slider.value);
      label.textContent = d.thetas[k] + "°";
      g.querySelectorAll(".grow").forEach(function (row, i) {
        const it = d.items[i];
        row.querySelector("img.sal").src = it.sal[k];
        row.querySelector("img.bin").src = it.bin[k];
        const v = it.score[k];
        row.querySelector(".score").textContent = v === null ? "—" : v.toFixed(3);
      });
    }
    slider.addEventListener("input", show);
    show();
  });
})();
