// A searchable region chooser: type any words of a RadGenome path ("right middle", "aorta"), move with the arrow
// keys, Enter picks, Escape puts the previous choice back. Every label is written with textContent.
import { el } from "/static/api.js";

export function matches(path, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const hay = path.toLowerCase();
  return words.every((w) => hay.includes(w));
}

export class RegionChooser {
  constructor({ input, list, onChange }) {
    this.input = input;
    this.list = list;
    this.onChange = onChange || (() => {});
    this.regions = [];
    this.value = "";
    this.original = "";
    this.shown = [];
    this.active = -1;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");
    list.setAttribute("role", "listbox");
    input.addEventListener("focus", () => { input.select(); this.open(""); });
    input.addEventListener("input", () => this.open(input.value));
    input.addEventListener("keydown", (e) => this.onKey(e));
    input.addEventListener("blur", () => setTimeout(() => this.close(true), 150));
  }

  setRegions(regions) {
    this.regions = regions; // [{path, node, depth}], parents before children
  }

  // the item's own region and the value to show (a decided correction, or the item's region)
  reset(original, value) {
    this.original = original || "";
    this.set(value ?? original ?? "", false);
  }

  set(path, notify = true) {
    this.value = path || "";
    this.input.value = this.value;
    this.input.classList.toggle("changed", this.value !== this.original);
    if (notify) this.onChange(this.value);
  }

  changed() {
    return this.value !== this.original;
  }

  open(query) {
    this.shown = this.regions.filter((r) => matches(r.path, query)).slice(0, 60);
    this.active = this.shown.length ? 0 : -1;
    this.render();
    this.list.classList.remove("hidden");
    this.input.setAttribute("aria-expanded", "true");
  }

  close(restore) {
    if (this.list.classList.contains("hidden")) return;
    this.list.classList.add("hidden");
    this.input.setAttribute("aria-expanded", "false");
    if (restore) this.input.value = this.value;
  }

  render() {
    this.list.replaceChildren(...this.shown.map((r, i) => {
      const li = el("li", null, i === this.active ? "opt active" : "opt");
      li.setAttribute("role", "option");
      li.id = `${this.list.id}-${i}`;
      li.appendChild(el("span", r.node, "opt-node"));
      li.appendChild(el("span", r.path, "opt-path"));
      li.addEventListener("mousedown", (e) => { e.preventDefault(); this.pick(i); });
      return li;
    }));
    if (this.active >= 0) {
      this.input.setAttribute("aria-activedescendant", `${this.list.id}-${this.active}`);
      this.list.children[this.active]?.scrollIntoView({ block: "nearest" });
    }
    if (!this.shown.length) this.list.appendChild(el("li", "no region matches", "opt empty"));
  }

  pick(i) {
    const r = this.shown[i];
    if (!r) return;
    this.set(r.path);
    this.close(false);
    this.input.blur();
  }

  onKey(e) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (!this.shown.length) return;
      const step = e.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.shown.length) % this.shown.length;
      this.render();
    } else if (e.key === "Enter") {
      e.preventDefault();
      e.stopPropagation();
      this.pick(this.active);
    } else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      this.close(true);
      this.input.blur();
    }
  }
}
