// Who is signed in, as far as the views need it: a viewer token may read but not act, so the
// views offer no action it would be refused.
import { createContext, useContext } from 'react';

export interface Access {
  canOperate: boolean;
  role: string | null;
  /** an admin token of every project (whoami's projectId null): admin tokens are its to manage */
  global?: boolean;
}

export const AccessContext = createContext<Access>({ canOperate: true, role: null });
export const useAccess = () => useContext(AccessContext);
