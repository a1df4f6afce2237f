/* version.h - the opsbot release, shown by !version and CTCP VERSION. */
#ifndef VERSION_H
#define VERSION_H

#define OPSBOT_VERSION "0.1.0"

#endif /* VERSION_H */
