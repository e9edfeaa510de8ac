/** A small per-second line chart of per-minute counts (uPlot), sized to its container. */
import uPlot from "uplot";
import { h } from "../dom.ts";
import type { Series } from "../types.ts";

export function rateChart(title: string, s: Series, testId: string): HTMLElement {
  const box = h("div", { class: "chart", "data-test": testId });
  const xs = s.perMinute.map((_, i) => (s.start + i * 60_000) / 1000);
  const ys = s.perMinute.map((n) => Math.round((n / 60) * 100) / 100);
  // uPlot measures its container: build once the box is in the document.
  requestAnimationFrame(() => {
    const width = Math.max(200, box.clientWidth);
    const plot = new uPlot(
      {
        title,
        width,
        height: 160,
        legend: { show: false },
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.2)] } },
        axes: [{ stroke: "#888" }, { stroke: "#888", size: 40 }],
        series: [{}, { stroke: "#3370ff", fill: "rgba(51,112,255,0.12)", width: 2 }],
      },
      [xs, ys],
      box,
    );
    const resize = () => plot.setSize({ width: Math.max(200, box.clientWidth), height: 160 });
    window.addEventListener("resize", resize);
  });
  return box;
}
