// noiseloss report: a cursor on each loss curve follows its audio; a click on the curve seeks.
// Plain JavaScript, no library, no network. Without JavaScript the page shows the same plots.
"use strict";
(function () {
  function bind(curve) {
    var audio = document.getElementById(curve.dataset.audio);
    var cursor = curve.querySelector(".cursor");
    if (!audio || !cursor) { return; }
    var x0 = Number(curve.dataset.x0), x1 = Number(curve.dataset.x1);
    var f0 = Number(curve.dataset.frame0), f1 = Number(curve.dataset.frame1);
    var rate = Number(curve.dataset.rate);
    // frame coordinate <-> fraction of the image width (the plot's x axis, see PlotAxis)
    function fraction(frame) { return x0 + (frame - f0) / (f1 - f0) * (x1 - x0); }
    function frameAt(frac) { return f0 + (frac - x0) / (x1 - x0) * (f1 - f0); }
    var running = false;
    function draw() {
      cursor.style.left = (100 * fraction(audio.currentTime * rate)) + "%";
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
      var frame = frameAt((event.clientX - box.left) / box.width);
      var seconds = Math.max(0, frame / rate);
      if (isFinite(audio.duration)) { seconds = Math.min(seconds, audio.duration); }
      audio.currentTime = seconds;
      draw();
    });
    curve.classList.add("live");
  }
  document.querySelectorAll(".curve[data-audio]").forEach(bind);
})();
