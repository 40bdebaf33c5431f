/**
 * A task on a git repository in an E2B sandbox (the e2b SDK against the local E2B-compatible
 * server): the base travels in as an uploaded bundle and is checked out inside.
 */
import { e2bProviderFactory } from '../e2b-server/fixtures.js';
import { repoSuite } from './repo-suite.js';

repoSuite('E2B sandbox, local E2B-compatible server', e2bProviderFactory(), { full: false });
