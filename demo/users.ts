/** The demo's users. The backends know these passwords, as a real mail server would. */
export const DEMO_USERS: Readonly<Record<string, string>> = {
  alice: 'wonderland',
  bob: 'builder',
  carol: 'caroline',
};

/** Constant-time enough for a demo: the list is tiny and public. */
export function checkPassword(username: string, password: string): boolean {
  return Object.hasOwn(DEMO_USERS, username) && DEMO_USERS[username] === password;
}
