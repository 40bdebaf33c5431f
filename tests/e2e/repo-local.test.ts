/** Tasks on a git repository, in local bubblewrap sandboxes. */
import { repoSuite } from './repo-suite.js';

repoSuite('bubblewrap sandbox');
