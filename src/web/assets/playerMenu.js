// @ts-check
// A menu button of the player's control bar (speed, captions, audio, downloads), after the WAI-ARIA menu
// button pattern: a <button> with aria-haspopup/aria-expanded, a role="menu" list of real buttons or links;
// ↑/↓/Home/End move, Escape or Tab closes, focus returns to the button; a click outside closes.
import { h } from './common.js';

/**
 * @typedef {{label: string, checked?: boolean, href?: string, download?: string, onSelect?: () => void}} MenuItem
 */

let menuCount = 0;

/**
 * @param {{label: string, content: Node | string, className?: string}} options
 *   label: the button's accessible name (also the menu's); content: what the button shows
 */
export function createMenu({ label, content, className = '' }) {
  const id = `rp-menu-${++menuCount}`;
  const button = h(
    'button',
    {
      type: 'button',
      class: `rp-button ${className}`,
      'aria-label': label,
      'aria-haspopup': 'menu',
      'aria-expanded': 'false',
      'aria-controls': id,
    },
    content,
  );
  const list = h('div', { id, class: 'rp-menu-list', role: 'menu', 'aria-label': label, hidden: true });
  const wrap = h('div', { class: 'rp-menu' }, button, list);

  /** @returns {HTMLElement[]} */
  const items = () =>
    [...list.querySelectorAll('[role^="menuitem"]')].map((el) => /** @type {HTMLElement} */ (el));
  const isOpen = () => !list.hidden;

  /** @param {boolean} [returnFocus] */
  function close(returnFocus = true) {
    if (!isOpen()) return;
    list.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', onOutside, true);
    if (returnFocus) button.focus();
  }
  /** @param {'checked' | 'first' | 'last'} [which] */
  function open(which = 'checked') {
    for (const other of document.querySelectorAll('.rp-menu-list:not([hidden])')) {
      if (other !== list) other.dispatchEvent(new CustomEvent('rp-close'));
    }
    list.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    document.addEventListener('pointerdown', onOutside, true);
    const all = items();
    const target =
      which === 'last'
        ? all.at(-1)
        : which === 'first'
          ? all[0]
          : (all.find((el) => el.getAttribute('aria-checked') === 'true') ?? all[0]);
    target?.focus();
  }
  /** @param {Event} e */
  function onOutside(e) {
    if (!wrap.contains(/** @type {Node} */ (e.target))) close(false);
  }
  list.addEventListener('rp-close', () => close(false));

  button.addEventListener('click', () => (isOpen() ? close() : open()));
  button.addEventListener('keydown', (/** @type {KeyboardEvent} */ e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      e.stopPropagation();
      open(e.key === 'ArrowUp' ? 'last' : 'checked');
    }
  });
  list.addEventListener('keydown', (/** @type {KeyboardEvent} */ e) => {
    const all = items();
    const at = all.indexOf(/** @type {HTMLElement} */ (document.activeElement));
    /** @param {number} i */
    const go = (i) => all[(i + all.length) % all.length]?.focus();
    // The player's shortcuts do not apply inside an open menu.
    e.stopPropagation();
    if (e.key === 'ArrowDown') go(at + 1);
    else if (e.key === 'ArrowUp') go(at - 1);
    else if (e.key === 'Home') go(0);
    else if (e.key === 'End') go(all.length - 1);
    else if (e.key === 'Escape') close();
    else if (e.key === 'Tab') {
      close(false);
      return; // focus moves on from the button's place
    } else return;
    e.preventDefault();
  });

  /** @param {MenuItem[]} entries */
  function setItems(entries) {
    list.replaceChildren(
      ...entries.map((entry) => {
        if (entry.href) {
          return h('a', {
            role: 'menuitem',
            class: 'rp-menu-item',
            tabindex: '-1',
            href: entry.href,
            // The file name comes from the server's Content-Disposition (<title>-<rung>.mp4).
            download: entry.download ?? true,
            text: entry.label,
            onclick: () => close(),
          });
        }
        return h('button', {
          type: 'button',
          role: 'menuitemradio',
          class: 'rp-menu-item',
          tabindex: '-1',
          'aria-checked': entry.checked ? 'true' : 'false',
          text: entry.label,
          onclick: () => {
            entry.onSelect?.();
            close();
          },
        });
      }),
    );
  }

  return { wrap, button, list, setItems, open, close, isOpen };
}
