// The CT viewer: NiiVue with a radiologist's defaults.
// - radiological convention (patient's right on the screen's left), orientation letters on every side, toggle kept
// - slice scrolling by key (one slice, or a page of slices), along the plane in view
// - window/level: presets, right-drag (or Ctrl+left-drag) with a live "W … L …" readout
// - the item's region decides the first window (lung → lung window, bone → bone window, else soft tissue)
// - a visible message when the region has no mask to show (empty, no structure, outside the field of view)
// - layouts: one plane, 2×2 (three planes and the 3-D view), a large plane beside the two others, 3-D alone
// - the crosshair position in world millimetres with anatomical labels, and the HU under it
import { DRAG_MODE, MULTIPLANAR_TYPE, Niivue, SHOW_RENDER, SLICE_TYPE } from "/vendor/niivue.js";

export const WINDOWS = {
  lung: { width: 1500, level: -600 },
  mediastinum: { width: 350, level: 50 },
  bone: { width: 2000, level: 400 },
};

const LUNG_REGIONS = new Set(["lung", "trachea and bronchie"]);
const PAGE = 10; // slices per PageUp/PageDown

export function presetForRegion(region) {
  if (LUNG_REGIONS.has(region)) return "lung";
  if (region === "bone") return "bone";
  return "mediastinum";
}

const MASK_MESSAGES = {
  empty: (r) => `No mask to show: the ${r} mask is empty in this scan (the segmentation found nothing there).`,
  no_structure: (r) => `No mask to show: the segmentation has no structure for ${r}.`,
  outside_fov: (r) => `No mask to show: ${r} lies outside this scan's field of view.`,
  not_segmented: () => "No mask to show: this case has no label map (text-only build).",
};

export function maskMessage(status, region, voxels) {
  const name = region || "this region";
  if (MASK_MESSAGES[status]) return MASK_MESSAGES[status](name);
  if (voxels === 0) return MASK_MESSAGES.empty(name);
  return "";
}

// NIfTI world coordinates are RAS+: x grows toward the patient's right, y anterior, z superior
function axisLabel(value, neg, pos) {
  return `${Math.abs(value).toFixed(1)} mm ${value >= 0 ? pos : neg}`;
}

export function formatLocation(mm, hu, maskValue) {
  if (!mm) return "";
  const parts = [
    `x ${axisLabel(mm[0], "L", "R")}`,
    `y ${axisLabel(mm[1], "P", "A")}`,
    `z ${axisLabel(mm[2], "I", "S")}`,
  ];
  if (Number.isFinite(hu)) parts.push(`${Math.round(hu)} HU`);
  if (maskValue !== undefined) parts.push(maskValue > 0.5 ? "in mask" : "outside mask");
  return parts.join(" · ");
}

export class Viewer {
  constructor({ canvas, location, readout, message, orientation }) {
    this.canvas = canvas;
    this.locationEl = location;
    this.readoutEl = readout;
    this.messageEl = message;
    this.orientationEl = orientation;
    this.nv = null;
    this.caseId = null;
    this.view = "axial";
    this.preset = "mediastinum";
    this.radiological = true;
    this.maskOn = true;
    this.centroid = null;
    this.onChange = () => {};
  }

  async init() {
    if (this.nv) return this.nv;
    const nv = new Niivue({
      backColor: [0.06, 0.07, 0.09, 1],
      crosshairColor: [0.25, 0.8, 1.0, 0.55],
      crosshairWidth: 0.5,
      show3Dcrosshair: false,
      isColorbar: false,
      isRadiologicalConvention: true,
      isOrientationTextVisible: true,
      showAllOrientationMarkers: true,
      multiplanarShowRender: SHOW_RENDER.NEVER,
      loadingText: "",
      dragAndDropEnabled: false,
    });
    await nv.attachToCanvas(this.canvas);
    nv.setMouseEventConfig({
      leftButton: { primary: DRAG_MODE.crosshair, withShift: DRAG_MODE.pan, withCtrl: DRAG_MODE.windowing },
      rightButton: DRAG_MODE.windowing,
      centerButton: DRAG_MODE.pan,
    });
    nv.onLocationChange = (data) => this.showLocation(data);
    nv.onIntensityChange = () => this.showWindow();
    // the readout follows a window drag as it happens
    this.canvas.addEventListener("pointermove", (e) => { if (e.buttons) this.showWindow(); });
    this.canvas.addEventListener("pointerup", () => this.showWindow());
    this.canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    this.nv = nv;
    this.showOrientation();
    return nv;
  }

  async loadCase(caseId, url) {
    const nv = await this.init();
    if (this.caseId === caseId) return false;
    await nv.loadVolumes([{ url, name: "ct.nii.gz", colormap: "gray" }]);
    this.caseId = caseId;
    return true;
  }

  clear() {
    this.caseId = null;
    if (!this.nv) return;
    while (this.nv.volumes.length) this.nv.removeVolume(this.nv.volumes[this.nv.volumes.length - 1]);
    this.nv.drawScene();
  }

  async setMask(url, centroid) {
    const nv = this.nv;
    while (nv.volumes.length > 1) nv.removeVolume(nv.volumes[nv.volumes.length - 1]);
    this.centroid = centroid || null;
    if (url) {
      await nv.addVolumeFromUrl({
        url, name: "mask.nii.gz", colormap: "red", opacity: this.maskOn ? 0.45 : 0, cal_min: 0.5, cal_max: 1,
      });
    }
    nv.drawScene();
  }

  setMessage(text) {
    this.messageEl.textContent = text || "";
    this.messageEl.classList.toggle("hidden", !text);
    document.body.dataset.mask = text ? "none" : "shown";
  }

  applyPreset(name) {
    this.preset = name;
    const w = WINDOWS[name];
    this.setWindow(w.width, w.level);
    document.querySelectorAll(".preset").forEach((b) => b.classList.toggle("on", b.dataset.preset === name));
  }

  setWindow(width, level) {
    const nv = this.nv;
    if (!nv || !nv.volumes.length) return;
    nv.volumes[0].cal_min = level - width / 2;
    nv.volumes[0].cal_max = level + width / 2;
    nv.updateGLVolume();
    this.showWindow();
  }

  windowNow() {
    const v = this.nv && this.nv.volumes[0];
    if (!v) return null;
    return { width: v.cal_max - v.cal_min, level: (v.cal_max + v.cal_min) / 2 };
  }

  showWindow() {
    const w = this.windowNow();
    if (!w) return;
    this.readoutEl.textContent = `W ${Math.round(w.width)}  L ${Math.round(w.level)}`;
    const preset = Object.entries(WINDOWS).find(([, p]) => Math.abs(p.width - w.width) < 1 && Math.abs(p.level - w.level) < 1);
    document.querySelectorAll(".preset").forEach((b) => b.classList.toggle("on", preset && b.dataset.preset === preset[0]));
  }

  setView(view) {
    this.view = view;
    const nv = this.nv;
    if (nv) {
      nv.opts.heroImageFraction = 0;
      nv.opts.multiplanarShowRender = SHOW_RENDER.NEVER;
      nv.opts.multiplanarLayout = MULTIPLANAR_TYPE.AUTO;
      if (view === "grid") {
        nv.opts.multiplanarLayout = MULTIPLANAR_TYPE.GRID;
        nv.opts.multiplanarShowRender = SHOW_RENDER.ALWAYS; // the fourth quadrant holds the 3-D view
      } else if (view === "hero") {
        nv.opts.heroImageFraction = 0.62; // a large axial plane beside the coronal and sagittal ones
        nv.opts.heroSliceType = SLICE_TYPE.AXIAL;
      }
      const types = {
        axial: SLICE_TYPE.AXIAL, coronal: SLICE_TYPE.CORONAL, sagittal: SLICE_TYPE.SAGITTAL,
        grid: SLICE_TYPE.MULTIPLANAR, hero: SLICE_TYPE.MULTIPLANAR, render: SLICE_TYPE.RENDER,
      };
      nv.setSliceType(types[view]);
    }
    document.querySelectorAll(".view").forEach((b) => b.classList.toggle("on", b.dataset.view === view));
    document.body.dataset.view = view;
  }

  setRadiological(on) {
    this.radiological = on;
    if (this.nv) this.nv.setRadiologicalConvention(on);
    this.showOrientation();
  }

  showOrientation() {
    this.orientationEl.textContent = this.radiological
      ? "Radiological: patient's right on screen left"
      : "Neurological: patient's left on screen left";
    document.body.dataset.convention = this.radiological ? "radiological" : "neurological";
  }

  // one slice (or a page) along the axis through the plane in view; multi-plane layouts step the axial plane
  slice(step) {
    const nv = this.nv;
    if (!nv || !nv.volumes.length) return;
    const axis = { sagittal: 0, coronal: 1 }[this.view] ?? 2;
    const d = [0, 0, 0];
    d[axis] = step;
    nv.moveCrosshairInVox(d[0], d[1], d[2]);
  }

  page(direction) {
    this.slice(direction * PAGE);
  }

  jumpToCentroid() {
    const nv = this.nv;
    if (!nv || !this.centroid) return;
    nv.scene.crosshairPos = nv.mm2frac(this.centroid);
    nv.drawScene();
    nv.createOnLocationChange();
  }

  toggleMask() {
    this.maskOn = !this.maskOn;
    if (this.nv && this.nv.volumes.length > 1) this.nv.setOpacity(1, this.maskOn ? 0.45 : 0);
  }

  showLocation(data) {
    const hu = data.values && data.values[0] ? data.values[0].value : NaN;
    const mask = data.values && data.values[1] ? data.values[1].value : undefined;
    this.locationEl.textContent = formatLocation(data.mm, hu, mask);
    if (data.mm) document.body.dataset.crosshair = data.mm.map((v) => v.toFixed(2)).join(",");
    this.onChange();
  }
}
