// Sign-in: exchange the token printed by `radgenome review add-user` for a session cookie.
const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  const token = document.getElementById("token").value.trim();
  try {
    const res = await fetch("/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
      credentials: "same-origin",
    });
    if (!res.ok) {
      error.textContent = res.status === 401 ? "Unknown token." : `Sign-in failed (${res.status}).`;
      return;
    }
    window.location.assign("/");
  } catch (e) {
    error.textContent = `Network error: ${e}`;
  }
});
