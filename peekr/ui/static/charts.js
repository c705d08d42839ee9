// ECharts, loaded on first use from the copy vendored with peekr (no CDN).
let loading = null;

export function loadECharts() {
  if (window.echarts) return Promise.resolve(window.echarts);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/ui/static/echarts.min.js";
      script.onload = () => resolve(window.echarts);
      script.onerror = () => reject(new Error("could not load the chart library"));
      document.head.append(script);
    });
  }
  return loading;
}

export function dark() {
  return window.matchMedia("(prefers-color-scheme: dark)").matches;
}

export const PALETTE = ["#5b5bd6", "#10b981", "#f59e0b", "#ef4444", "#06b6d4", "#a855f7", "#84cc16", "#ec4899", "#64748b"];

export function baseOption() {
  const text = dark() ? "#a2a2b5" : "#5d5d6e";
  const line = dark() ? "#2e2e3a" : "#e2e2ea";
  return {
    color: PALETTE,
    backgroundColor: "transparent",
    textStyle: { color: text, fontFamily: "system-ui, sans-serif" },
    grid: { left: 8, right: 12, top: 30, bottom: 8, containLabel: true },
    tooltip: { trigger: "axis", confine: true },
    legend: { type: "scroll", top: 0, textStyle: { color: text } },
    xAxis: { axisLine: { lineStyle: { color: line } }, axisLabel: { color: text }, splitLine: { show: false } },
    yAxis: { axisLabel: { color: text }, splitLine: { lineStyle: { color: line } } },
  };
}

// Charts resize with their container; returns a function that disposes them.
export function track(charts) {
  const onResize = () => charts.forEach((c) => c.resize());
  window.addEventListener("resize", onResize);
  return () => {
    window.removeEventListener("resize", onResize);
    charts.forEach((c) => c.dispose());
  };
}
