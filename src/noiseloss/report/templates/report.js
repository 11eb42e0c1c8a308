// noiseloss report: a cursor on each loss curve follows its audio; a click on the curve seeks.
// Plain JavaScript, no library, no network. Without JavaScript the page shows the same plots.
"use strict";
(function () {
  function bind(curve) {
    var audio = document.getElementById(curve.dataset.audio);
    var cursor = curve.querySelector(".cursor");
    if (!audio || !cursor) { return; }
    var x0 = Number(curve.dataset.x0), x1 = Number(curve.dataset.x1);
    var t0 = Number(curve.dataset.time0), t1 = Number(curve.dataset.time1);
    // seconds <-> fraction of the image width (the plot's x axis, see PlotAxis)
    function fraction(seconds) { return x0 + (seconds - t0) / (t1 - t0) * (x1 - x0); }
    function timeAt(frac) { return t0 + (frac - x0) / (x1 - x0) * (t1 - t0); }
    var running = false;
    function draw() {
      cursor.style.left = (100 * fraction(audio.currentTime)) + "%";
      cursor.hidden = false;
      curve.dataset.cursorTime = String(audio.currentTime);
    }
    function loop() {
      draw();
      if (running) { window.requestAnimationFrame(loop); }
    }
    audio.addEventListener("play", function () { running = true; loop(); });
    audio.addEventListener("pause", function () { running = false; draw(); });
    audio.addEventListener("ended", function () { running = false; draw(); });
    audio.addEventListener("seeked", draw);
    audio.addEventListener("timeupdate", function () { if (!running) { draw(); } });
    curve.addEventListener("click", function (event) {
      var box = curve.getBoundingClientRect();
      var seconds = Math.max(0, timeAt((event.clientX - box.left) / box.width));
      if (isFinite(audio.duration)) { seconds = Math.min(seconds, audio.duration); }
      audio.currentTime = seconds;
      draw();
    });
    curve.classList.add("live");
  }
  document.querySelectorAll(".curve[data-audio]").forEach(bind);
})();
